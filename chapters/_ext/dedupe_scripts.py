"""Sphinx extension of the book: include each script of a page once.

With Jupyter Book 1.0.4 and Sphinx 7, the inline settings scripts of sphinx-togglebutton and
sphinx-thebe are registered twice, so every page declares ``THEBE_JS_URL`` twice and the browser
logs a SyntaxError. Duplicates (same file or same inline body) are dropped when a page is written.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # the second copy of an inline script has filename '' where the first has None
        filename = getattr(script, "filename", str(script)) or ""
        key = (filename, tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    """Register the extension with Sphinx: drop duplicate scripts when each page's context is made.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The Sphinx application.

    Returns
    -------
    dict
        The extension's metadata: it is safe for parallel reading and writing.
    """
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
