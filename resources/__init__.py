"""Files shipped with Quietroom (templates, icons, styles, the client's web page), read with
``importlib.resources.files("resources")``."""
