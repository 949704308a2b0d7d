"""Maths rendered to MathML when the site is built, so a page shows its formulas with no script and no network.

Requirements: sphinx, latex2mathml (pure Python; in `seqnet[docs]`).

Browsers render MathML Core natively (Chrome and Edge 109+, Firefox, Safari), so the built site reads the same
offline, from a file:// URL, as served; MathJax from a CDN left a local build showing raw LaTeX. A formula
latex2mathml cannot convert fails the build (Sphinx's -W) naming the page, not a blank in the output.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from latex2mathml.converter import convert
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)


def _mathml(self: Any, node: nodes.Element, latex: str, display: str) -> str:
    try:
        return convert(latex, display=display)
    except Exception as error:  # latex2mathml raises several kinds; the build names the formula and goes on
        logger.warning("cannot render %r as MathML: %s", latex, error, location=node)
        return self.encode(latex)


def visit_math(self: Any, node: nodes.math) -> None:
    self.body.append(self.starttag(node, "span", "", CLASS="math"))
    self.body.append(_mathml(self, node, node.astext(), "inline") + "</span>")
    raise nodes.SkipNode


def visit_displaymath(self: Any, node: nodes.math_block) -> None:
    self.body.append(self.starttag(node, "div", CLASS="math"))
    if node["number"]:
        self.body.append(f'<span class="eqno">({get_node_equation_number(self, node)})')
        self.add_permalink_ref(node, "Link to this equation")
        self.body.append("</span>")
    for part in (p for p in node.astext().split("\n\n") if p.strip()):  # one formula per paragraph, as MathJax
        self.body.append(_mathml(self, node, part, "block"))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app: Any) -> dict[str, Any]:
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_displaymath, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
