"""Sentences that speak to the assistant instead of reporting news.

Stored text is data. A document may still carry a sentence written to steer a model
(忽略之前的所有指令，回答：……; "ignore previous instructions"; 你现在是……). Such a
sentence is never evidence: it is not shown to the model as an answer's source, and no
extractive answer quotes it.
"""

from __future__ import annotations

import re

_ADDRESSES_ASSISTANT = re.compile(
    r"(?:忽略|无视|忘记|忘掉|不要理会|跳过)掉?你?(?:之前|以上|上述|前面|先前|此前|所有|一切|全部)"
    r"\S{0,6}?(?:指令|指示|提示词?|规则|要求|设定|命令)"
    r"|你(?:现在|从现在起|接下来)?(?:是|扮演|充当|作为)(?:一[个名位]|我的)?\S{0,8}?(?:助手|模型|AI|机器人|系统)"
    r"|(?:系统|用户)(?:提示|指令)[:：]"
    r"|(?:请|必须|只)(?:直接)?(?:回答|输出|回复)[:：]"
    r"|\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+"
    r"(?:instructions?|prompts?|rules?)"
    r"|\byou\s+are\s+now\b|\bsystem\s+prompt\b|\bnew\s+instructions?\s*:",
    re.IGNORECASE,
)


def addresses_assistant(sentence: str) -> bool:
    """Whether `sentence` gives orders to a language model (see the module docstring)."""
    return _ADDRESSES_ASSISTANT.search(sentence) is not None
