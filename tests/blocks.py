"""The code blocks of docs pages and the README, run as tests and held to what they state.

A Python block runs statement by statement, in one namespace per page. What a block shows is checked:

    print(h.shape)  # -> (4, 2, 32)              the statement prints exactly this (stripped)
    seqnet.Spec("gru", 3, 4, proj_size=2)  # raises SpecError: proj_size=2 is not allowed
                                                 the statement raises this class, its message contains the text

and what would let a block show a value unchecked is refused: a top-level print() without `# -> ...`, a
comment that states a value (a number, a bracket, True/False/None, a quote, an error's name, `Name(`) in any other
form, and try/except (a shown error is `# raises`). Explanations go on a comment line of their own.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import tokenize
from typing import Any

EXPECT = re.compile(r"#\s*->\s*(?P<value>.*?)\s*$")
RAISES = re.compile(r"#\s*raises\s+(?P<error>[A-Za-z_][\w.]*)(?::\s*(?P<message>.*?))?\s*$")
VALUE_LIKE = re.compile(r"#\s*(-?\d|\(|\[|\{|True\b|False\b|None\b|'|\"|[A-Z]\w*Error\b|[A-Z]\w*\()")


def _comments(code: str) -> dict[int, str]:
    """Line number (1-based) -> the comment on that line."""
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string
    return found


def problems(code: str) -> list[str]:
    """What in `code` shows a value that running it would not check."""
    tree = ast.parse(code)
    comments = _comments(code)
    lines = code.splitlines()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            found.append(f"line {node.lineno}: try/except shows an error unchecked: use `# raises Error: message`")
    for node in ast.walk(tree):
        top = any(node is stmt.value for stmt in tree.body if isinstance(stmt, ast.Expr))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print" and not top:
            found.append(f"line {node.lineno}: prints inside a statement, where nothing checks it: assert instead")
    checked = set()
    for stmt in tree.body:
        comment = comments.get(stmt.end_lineno or stmt.lineno, "")
        if EXPECT.match(comment) or RAISES.match(comment):
            checked.add(stmt.end_lineno)
        elif _is_print(stmt):
            text = lines[stmt.lineno - 1].strip()
            found.append(f"line {stmt.lineno}: {text!r} prints without `# -> expected output`")
    for number, comment in comments.items():
        if number not in checked and VALUE_LIKE.match(comment):
            found.append(f"line {number}: {comment!r} states a value unchecked: write it as `# -> value`")
    return found


def _is_print(stmt: ast.stmt) -> bool:
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"


def run(code: str, namespace: dict[str, Any], where: str) -> None:
    """Run `code` in `namespace`, statement by statement, checking each `# -> ` and `# raises ` it states;
    AssertionError naming `where` and the line on the first mismatch, or on `problems`."""
    bad = problems(code)
    assert not bad, f"{where}:\n  " + "\n  ".join(bad)
    tree = ast.parse(code)
    comments = _comments(code)
    for stmt in tree.body:
        comment = comments.get(stmt.end_lineno or stmt.lineno, "")
        compiled = compile(ast.Module(body=[stmt], type_ignores=[]), where, "exec")
        expect, raises = EXPECT.match(comment), RAISES.match(comment)
        line = f"{where}, line {stmt.lineno}"
        if raises:
            try:
                exec(compiled, namespace)
            except Exception as error:  # compared below
                name = raises["error"].rsplit(".", 1)[-1]
                assert any(cls.__name__ == name for cls in type(error).__mro__), (
                    f"{line}: raised {type(error).__name__}: {error}, not {name}"
                )
                assert (raises["message"] or "") in str(error), f"{line}: the message is {str(error)!r}"
            else:
                raise AssertionError(f"{line}: shows {raises['error']}, but nothing was raised")
            continue
        with contextlib.redirect_stdout(io.StringIO()) as out:
            exec(compiled, namespace)
        if expect:
            printed = out.getvalue().strip()
            assert printed == expect["value"], f"{line}: printed {printed!r}, the block shows {expect['value']!r}"
