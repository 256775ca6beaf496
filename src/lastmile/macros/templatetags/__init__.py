"""Template tags of the macros app: the composer's macro picker."""
