"""The ``atlas`` study: do a model's words and internals agree, what does steering one value do to the
others, and how do models compare. It reads the other studies' units and adds only what they lack."""
