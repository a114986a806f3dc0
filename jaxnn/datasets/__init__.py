"""TFDS dataset builders shipped with jaxnn (each in its own package folder, as TFDS needs)."""
