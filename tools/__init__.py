"""Command-line tools (``python tools/NAME.py …`` or ``python -m tools.NAME …``). They import the packages
(``realtime``, ``engines``, ``training``) and, for shared helpers, each other as ``tools.NAME`` — installed
with the project (``pip install -e .``, which ``tools/setup.sh`` runs), no ``sys.path`` edits."""
