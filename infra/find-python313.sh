#!/usr/bin/env bash
# Print the path of a Python 3.13 interpreter (the Lambda runtime's version), or nothing.
for candidate in \
    "$(PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null)" \
    "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1)" \
    "$(command -v python3.13 2>/dev/null)" \
    /usr/bin/python3.13 /usr/local/bin/python3.13; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] \
     && "$candidate" -c 'import sys; raise SystemExit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
    echo "$candidate"
    exit 0
  fi
done
exit 0
