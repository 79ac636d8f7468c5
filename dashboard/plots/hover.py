"""Show a probe sample's input image next to the cursor when a plotly point is hovered.

Plotly's own hover labels cannot hold images. The embedding figures put a PNG data URI in
the last column of each point's customdata (figures.embedding_figure); this script, placed
once on a page through a zero-height component (widgets.hover_thumbnails), listens to plotly_hover on every chart of
the page and shows that image in a small floating card. Charts without such URIs (points
pairs, the training curves) are left alone.
"""

SCRIPT = r"""
<script>
(function () {
  const doc = window.parent.document;
  let tip = doc.getElementById("dann-hover-thumb");
  if (!tip) {
    tip = doc.createElement("div");
    tip.id = "dann-hover-thumb";
    tip.style.cssText = "position:fixed;z-index:1000000;pointer-events:none;display:none;" +
      "background:#fff;border:2px solid #333;border-radius:8px;padding:4px;" +
      "box-shadow:0 4px 14px rgba(0,0,0,.35)";
    const img = doc.createElement("img");
    img.style.cssText = "width:112px;height:112px;image-rendering:pixelated;display:block";
    tip.appendChild(img);
    doc.body.appendChild(tip);
  }
  function show(ev) {
    const p = ev && ev.points && ev.points[0];
    const cd = p && p.customdata;
    const uri = cd && cd[cd.length - 1];
    if (typeof uri !== "string" || uri.indexOf("data:image/") !== 0) return;
    tip.firstChild.src = uri;
    const e = ev.event || {};
    // left of the cursor: plotly's own label (true, pred, domain) sits to its right
    let x = (e.clientX || 0) - 150, y = (e.clientY || 0) - 60;
    if (x < 4) x = (e.clientX || 0) + 220;
    tip.style.left = x + "px";
    tip.style.top = Math.max(4, y) + "px";
    tip.style.display = "block";
  }
  function hide() { tip.style.display = "none"; }
  function attach() {
    doc.querySelectorAll(".js-plotly-plot").forEach(function (gd) {
      if (gd.__dannHover || typeof gd.on !== "function") return;
      gd.__dannHover = true;
      gd.on("plotly_hover", show);
      gd.on("plotly_unhover", hide);
    });
  }
  // charts are (re)created by Streamlit at any time: look for new ones twice a second
  attach();
  setInterval(attach, 500);
})();
</script>
"""
