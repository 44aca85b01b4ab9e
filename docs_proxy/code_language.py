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
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


class _YamlLoader(_SAFE_LOADER):
    """The safe loader, reading any `!Tag` (CloudFormation's `!Ref`, `!Sub`, `!GetAtt`) as a plain value."""


def _tagged(loader: Any, suffix: str, node: Any) -> object:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_YamlLoader.add_multi_constructor("!", _tagged)
_YAML_LOADER: Any = _YamlLoader

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
# After a known command word, what no command argument looks like: an assignment, a block or call opening, a
# key's colon (Python's `aws = boto3.Session()`, HCL's `terraform {`, `source: x`), or a line opening a block.
_NOT_AN_ARGUMENT = re.compile(r"^\S+\s*[={(:]|(?<!['\"])[{(]\s*$")
# A sentence, not a command: it ends in a word and a full stop (or an ellipsis), and no token is an option, a path
# or a variable; or its second or third word is a verb no command takes as an argument ("git is", "tar archives
# contain").
_SENTENCE = re.compile(r"[A-Za-z](?:\.|\.\.\.|\u2026)$")
_PROSE_WORDS = frozenset(
    "is are was were has have had can could will would should may might must does contain contains provides "
    "allows lets means".split()
)
_ARGUMENT_MARKS = re.compile(r"(?:^| )[-$~./]|[/=]")
# Top-level "keys" that are Python's block keywords (`try:`, `finally:`): code, not YAML.
_PYTHON_BLOCKS = frozenset("try except finally else elif if for while with def class async match case".split())
_BLOCK_SCALAR = re.compile(r":\s*[|>][-+0-9]*\s*$")
# Larger blocks are not probed: the parsers' cost grows with the block, and a page's own label still applies.
PROBE_MAX_CHARS = 64 * 1024
_HTML_ROOTS = frozenset("html head body div span p a ul ol table form template script style section".split())
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def guess_language(code: str) -> str:
    """The fence language `code` shows beyond doubt, or "" to leave the fence bare."""
    text = code.strip()
    if not text or len(text) > PROBE_MAX_CHARS:
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
    except (ValueError, RecursionError):  # a block nested thousands deep is no sample worth a label
        return False
    return isinstance(value, (dict, list))


def _markup(text: str) -> str:
    """`xml` for a declaration or one well-formed root element (`html` when that root is an HTML element)."""
    if text.startswith("<?xml"):
        return "xml"
    try:
        root = etree.fromstring(text.encode("utf-8"), _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError, RecursionError):
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
    if word in SHELL_COMMANDS and (word in ("ls", "cd") if " " not in command else _runs_command(command)):
        return "bash"
    if word == "export" and _EXPORT.match(command):
        return "bash"
    return ""


def _runs_command(command: str) -> bool:
    """Whether a line that starts with a known command word goes on with arguments, not code or prose."""
    if _NOT_AN_ARGUMENT.search(command) or not _PROSE_WORDS.isdisjoint(command.split(" ", 3)[1:3]):
        return False
    return not (_SENTENCE.search(command) and not _ARGUMENT_MARKS.search(command.split(" ", 1)[1]))


def _is_yaml(text: str) -> bool:
    """Several `key: value` lines with nesting (or a `---` start), every line YAML-shaped, and it parses."""
    lines = [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) < 2:
        return False
    started = lines[0].rstrip() == "---"
    shape = _YamlShape()
    if not all(shape.fits(line) for line in (lines[1:] if started else lines)):
        return False
    keys = shape.top_keys
    if len(keys) != len(set(keys)) or not _PYTHON_BLOCKS.isdisjoint(keys) or not (shape.nested or (started and keys)):
        return False
    try:
        value = yaml.load(text, Loader=_YAML_LOADER)
    except (yaml.YAMLError, RecursionError, ValueError):
        return False
    return isinstance(value, (dict, list))


class _YamlShape:
    """Reads a block line by line: each line must be a key, an item, a value's continuation or a block scalar's
    text. A key with no value followed by a deeper line that is no key or item is prose ("Note:" and a sentence)."""

    def __init__(self) -> None:
        self.top_keys: list[str] = []
        self.nested = False
        self.opened = -1  # indentation of the last `key:` with no value on its line
        self.scalar = -1  # indentation of the last `key: |` whose text lines follow

    def fits(self, line: str) -> bool:
        indent = len(line) - len(line.lstrip(" "))
        if self.scalar >= 0:
            if indent > self.scalar:
                return True
            self.scalar = -1
        if self.opened >= 0 and indent > self.opened:
            self.nested = True
        if _YAML_KEY.match(line):
            if indent == 0 and not line.startswith("-"):
                self.top_keys.append(line.split(":", 1)[0])
            self.opened = indent if not line.split(":", 1)[1].strip() else -1
            if _BLOCK_SCALAR.search(line):
                self.scalar = indent
            return True
        if _YAML_ITEM.match(line):
            return True
        # a line at the margin that is neither a key nor an item is prose or code; so is a sentence under `key:`
        return indent > 0 and not (self.opened >= 0 and indent > self.opened)
