"""Reports rebuilt from saved results alone: Markdown and self-contained HTML tables, PNG figures."""
