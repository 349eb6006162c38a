// Basic accessibility checks run in the page (a small axe-like check; no dependencies):
// labelled form controls, a lang attribute, text alternatives for charts and images, text
// contrast of at least 4.5:1 computed from the styles the browser applied, and no horizontal
// scrolling. Returns a list of problems (empty = fine).
() => {
  const problems = [];
  if (!document.documentElement.getAttribute("lang")) problems.push("<html> has no lang attribute");
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const labels = el.labels ? [...el.labels].map((l) => l.textContent.trim()).filter(Boolean) : [];
    if (!labels.length && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby")) {
      problems.push(`form control without a label: ${el.tagName.toLowerCase()} name=${el.name}`);
    }
  }
  for (const el of document.querySelectorAll("button")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push("button without a name");
  }
  for (const svg of document.querySelectorAll("svg")) {
    const title = svg.querySelector("title");
    if (svg.getAttribute("role") !== "img" || !((title && title.textContent.trim()) || svg.getAttribute("aria-label"))) {
      problems.push("svg without role=img and a title");
    }
  }
  for (const img of document.querySelectorAll("img")) if (!img.hasAttribute("alt")) problems.push("img without alt");

  const parse = (c) => {
    const m = c && c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    return layers.reverse().reduce((acc, c) => over(c, acc), { r: 255, g: 255, b: 255, a: 1 });
  };
  const luminance = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  let checked = 0;
  for (const el of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "OPTION", "TITLE", "DESC"].includes(el.tagName.toUpperCase())) continue;
    const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!ownText || !visible(el)) continue;
    const style = getComputedStyle(el);
    const isSvgText = el instanceof SVGElement;
    const bg = background(isSvgText ? el.ownerSVGElement.parentElement : el);
    const fg = parse(isSvgText ? style.fill : style.color);
    if (!fg) continue;
    const value = ratio(over(fg, bg), bg);
    checked += 1;
    if (value < 4.5) {
      problems.push(`contrast ${value.toFixed(2)}:1 < 4.5:1 for "${el.textContent.trim().slice(0, 40)}" (${style.color} on rgb(${bg.r},${bg.g},${bg.b}))`);
    }
  }
  if (checked < 10) problems.push(`only ${checked} text elements were checked for contrast`);
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth > width) {
    problems.push(`horizontal scrolling: the page is ${document.documentElement.scrollWidth}px wide at ${width}px`);
  }
  return problems;
}
