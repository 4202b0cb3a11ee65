// hepsig-tutorial book: static sliders (hepsig_tutorial.widgets.sliders). Each slider figure of a
// chapter carries its precomputed frames as JSON; moving one slider shows the frame for its value
// with the other sliders at their defaults. No kernel, no network.
(function () {
  function setup(box) {
    var script = box.querySelector("script.hepsig-sliders-data");
    var img = box.querySelector("img.hepsig-sliders-frame");
    if (!script || !img || box.getAttribute("data-hepsig-ready")) {
      return;
    }
    var data = JSON.parse(script.textContent);
    var inputs = box.querySelectorAll("input[type=range][data-control]");
    function show(k, i) {
      inputs.forEach(function (input) {
        var j = Number(input.getAttribute("data-control"));
        var c = data.controls[j];
        var idx = j === k ? i : c["default"];
        input.value = String(idx);
        input.nextElementSibling.textContent = c.readouts[idx];
      });
      var c = data.controls[k];
      var f = c.frames[i];
      img.src = "data:image/png;base64," + data.frames[f];
      img.setAttribute("data-frame", String(f));
      img.setAttribute("data-control", c.name);
      img.setAttribute("data-value", String(c.values[i]));
    }
    inputs.forEach(function (input) {
      var k = Number(input.getAttribute("data-control"));
      input.addEventListener("input", function () { show(k, Number(input.value)); });
    });
    box.setAttribute("data-hepsig-ready", "1");
  }
  function init() {
    document.querySelectorAll(".hepsig-sliders").forEach(setup);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
