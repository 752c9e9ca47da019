"""Evolution: the campaign loop, parent selectors and operators."""
