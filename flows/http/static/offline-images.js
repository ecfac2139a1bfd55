// Loaded before Redoc on /redoc: an <img> pointed at another origin (Redoc's sidebar logo comes from
// cdn.redoc.ly, with no option to turn it off) gets an empty data URL instead, so the browser never
// asks for it; Redoc's own error handler then drops the logo.
(function () {
  const setAttribute = Element.prototype.setAttribute;
  const foreign = (value) => {
    try { return new URL(String(value), location.href).origin !== location.origin && /^https?:/.test(String(value)); }
    catch (e) { return false; }
  };
  HTMLImageElement.prototype.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === "src" && foreign(value)) value = "data:,";
    return setAttribute.call(this, name, value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true, enumerable: src.enumerable, get: src.get,
    set(value) { src.set.call(this, foreign(value) ? "data:," : value); },
  });
})();
