// hepsig-tutorial book. Loaded before RequireJS and the widgets manager (priority 200).
(function () {
  var me = document.currentScript;

  // 1. With the offline assets (HEPSIG_ASSETS=local) the Jupyter widgets manager lives in
  //    _static/hepsig-vendor/widgets/ next to its icon fonts. The manager derives the URL of those
  //    fonts from the RequireJS path of its own module, so map that module path to our copy (a global
  //    `require` object defined before require.js loads is its configuration).
  if (me && me.getAttribute("data-hepsig-assets") === "local") {
    var widgets = new URL((me.getAttribute("data-hepsig-vendor") || "hepsig-vendor") + "/widgets/", me.src).href;
    window.__jupyter_widgets_assets_path__ = widgets;
    if (typeof window.require === "undefined") {
      window.require = { paths: { "@jupyter-widgets/html-manager/dist": widgets.replace(/\/$/, "") } };
    }
  }

  // 2. The widgets manager typesets widget labels with the MathJax 2 call MathJax.Hub.Queue, which
  //    MathJax 3 does not have (one "reading 'Queue'" error per slider). Give MathJax 3 that call.
  //    MathJax is loaded with `defer`, so it is there at DOMContentLoaded; widgets render at `load`.
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub) {
      return;
    }
    mj.Hub = {
      Queue: function (command) {
        var element = command && command[2];
        if (element && mj.startup && mj.typesetPromise) {
          mj.startup.promise.then(function () { return mj.typesetPromise([element]); });
        }
      },
    };
  });
})();
