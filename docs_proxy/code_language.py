"""The language of a code block whose page names none, told from the block itself when that is unambiguous.

Sphinx puts every block of the AWS CLI reference in `highlight-python`, and AWS's own layout marks many
blocks `nohighlight`; a wrong label misleads an agent more than none, so a block is labelled only when it
proves itself: JSON that parses, a shell prompt, a known command or a PowerShell cmdlet, YAML with nesting that parses, XML that
is well formed. Anything else keeps a bare fence.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from lxml import etree

# PyYAML confirms a YAML guess; the C safe loader when libyaml is there (the wheels bundle it).
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

# Commands that open shell sessions in AWS docs. Words that also start prose or code (`cp` begins the CLI's
# synopsis, `export` a TypeScript module) are left out or checked further.
SHELL_COMMANDS = frozenset(
    "aws sam cdk eksctl copilot amplify sudo curl wget pip pip3 pipx npm npx yarn pnpm docker podman kubectl helm "
    "git cd mkdir ls chmod chown tar unzip apt apt-get yum dnf brew ssh scp systemctl openssl jq terraform source "
    "virtualenv".split()
)
_SHELL_PROMPT = re.compile(r"^\$ \S")
_POWERSHELL_PROMPT = re.compile(r"^PS(?: [A-Za-z]:\\[^>]*)?> ?\S")
_CMD_PROMPT = re.compile(r"^[A-Za-z]:\\[^>\n]*> ?\S")
# A PowerShell cmdlet: an approved verb, a dash, a capitalised noun (`Get-S3Bucket`, `New-CFNStack`).
_CMDLET = re.compile(
    r"^(?:Get|Set|New|Remove|Update|Add|Clear|Copy|Move|Start|Stop|Restart|Resume|Suspend|Enable|Disable|Install|"
    r"Uninstall|Import|Export|Invoke|Register|Unregister|Test|Write|Read|Send|Publish|Convert|ConvertTo|ConvertFrom|"
    r"Select|Where|ForEach|Measure|Wait|Initialize|Use|Edit|Find|Out|Format|Rename|Reset|Approve|Deny|Grant|Revoke)"
    r"-[A-Z][A-Za-z0-9]+(?:$| +-[A-Za-z]| *\|| +`$)"  # then its end, a -Parameter, a pipe or a line continuation
)
_EXPORT = re.compile(r"^export [A-Za-z_]\w*=")
_SHEBANG = re.compile(r"^#!\s*/\S*?(?:env\s+)?(bash|sh|zsh|python3?|node)\b")
_SHEBANG_LANGUAGE = {
    "bash": "bash",
    "sh": "bash",
    "zsh": "bash",
    "python": "python",
    "python3": "python",
    "node": "javascript",
}
# A YAML line: `key:` or `key: value` (keys without spaces), a `- item`, or a comment.
_YAML_KEY = re.compile(r"^( *)(?:- +)?[A-Za-z_][\w.-]*:(?: |$)")
_YAML_ITEM = re.compile(r"^( *)- ")
_HTML_ROOTS = frozenset("html head body div span p a ul ol table form template script style section".split())
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def guess_language(code: str) -> str:
    """The fence language `code` shows beyond doubt, or "" to leave the fence bare."""
    text = code.strip()
    if not text:
        return ""
    first = text[0]
    if first in "{[":
        return "json" if _is_json(text) else ""
    if first == "<":
        return _markup(text)
    shell = _shell(text)
    if shell:
        return shell
    return "yaml" if _is_yaml(text) else ""


def _is_json(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, (dict, list))


def _markup(text: str) -> str:
    """`xml` for a declaration or one well-formed root element (`html` when that root is an HTML element)."""
    if text.startswith("<?xml"):
        return "xml"
    try:
        root = etree.fromstring(text.encode("utf-8"), _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return ""
    tag = root.tag if isinstance(root.tag, str) else ""
    return "html" if tag.lower() in _HTML_ROOTS else "xml"


def _shell(text: str) -> str:
    """A shell session: a prompt on the first line, a shebang, or a first command known to be one."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    shebang = _SHEBANG.match(lines[0])
    if shebang:
        return _SHEBANG_LANGUAGE[shebang.group(1)]
    command = next((line for line in lines if not line.startswith("#")), "")
    if _SHELL_PROMPT.match(command):
        return "bash"
    if _POWERSHELL_PROMPT.match(command):
        return "powershell"
    if _CMD_PROMPT.match(command):
        return "bat"
    if _CMDLET.match(command):
        return "powershell"
    word = command.split(" ", 1)[0]
    if word in SHELL_COMMANDS and (" " in command or word in ("ls", "cd")):
        return "bash"
    if word == "export" and _EXPORT.match(command):
        return "bash"
    return ""


def _is_yaml(text: str) -> bool:
    """Several `key: value` lines with nesting (or a `---` start), every line YAML-shaped, and it parses."""
    lines = [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) < 2:
        return False
    started = lines[0].rstrip() == "---"
    if started:
        lines = lines[1:]
    shape = _yaml_shape(lines)
    if shape is None:
        return False
    top_keys, nested = shape
    if len(top_keys) != len(set(top_keys)) or not (nested or (started and top_keys)):
        return False
    return _parses_as_yaml(text)


def _yaml_shape(lines: list[str]) -> tuple[list[str], bool] | None:
    """The top-level keys and whether a `key:` opens a nested block; None when a line at the margin is neither
    a key nor an item (prose or code), so the block cannot be YAML."""
    top_keys: list[str] = []
    nested = False
    opened = -1  # indentation of the last `key:` with no value on its line
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        key = _YAML_KEY.match(line)
        if opened >= 0 and indent > opened:
            nested = True
        if key:
            if indent == 0 and not line.startswith("-"):
                top_keys.append(line.split(":", 1)[0])
            opened = indent if not line.split(":", 1)[1].strip() else -1
        elif not (_YAML_ITEM.match(line) or indent > 0):
            return None
    return top_keys, nested


def _parses_as_yaml(text: str) -> bool:
    """The shape check passed; only a parse that yields a mapping or a list confirms it."""
    try:
        value = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return False
    return isinstance(value, (dict, list))
