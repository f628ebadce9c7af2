"""What a figure measures: its kind and unit, and the name the text gives it.

One check decides whether two figures can be compared, for the answer engine (a newer
report's figure replaces an answer's only under the same measure) and for briefs (a
story's figures over time put only the same measure on one line).
"""

from __future__ import annotations

import re

from rag.text.quantities import Quantity

_LABEL_CHARS = re.compile(r"[\u3400-\u9fff]+$")
# Words between a measure's name and its figure that do not change what is measured
# (an estimate and the final count measure the same thing).
_LABEL_FILLER = re.compile(r"(?:预计|预期|估计|已经|已|共计|合计|总计|共|约为|约|达到|达|为|是|了|的|有|至|到|超过|近|逾|计)+$")

_ALREADY = re.compile(r"已经?")  # 工程已完成 and 工程完成 name one measure


def same_measure(a: Quantity, b: Quantity) -> bool:
    """Same kind of figure and the same unit (or one of them has none)."""
    return a.kind == b.kind and (a.unit == b.unit or a.unit is None or b.unit is None)


def measure_label(text: str, q: Quantity) -> str:
    """The name the text gives a figure: the Chinese words right before it in its clause,
    fillers (已, 达, 为 …) dropped, at most four characters (总投资 in 总投资12.6亿元,
    完成投资 in 已完成投资8.3亿元, 工程完成 in 土建工程已完成60%)."""
    run = _LABEL_CHARS.search(text[: q.start])
    name = _LABEL_FILLER.sub("", run.group() if run else "")
    return _ALREADY.sub("", name)[-4:]


def same_label(a: str, b: str) -> bool:
    """Two figures measure the same thing unless both are named and neither name ends
    the other (投资 and 总投资 agree; 总投资 and 完成投资 do not)."""
    return not a or not b or a.endswith(b) or b.endswith(a)
