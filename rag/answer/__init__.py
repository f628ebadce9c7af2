"""Answers, summaries and briefs, every sentence cited and checked.

- `ask`: a question in, an `Answer` out — retrieve, prompt, generate, verify, or refuse;
- `evidence`: the sentences of the retrieved passages that answer, shown before the model writes;
- `prompts`: every prompt the model sees, with the passages fenced as data;
- `citations`: the `[n]` marker syntax and its one parser; what a refusal looks like;
- `verify`: the check that a cited passage holds a sentence's numbers, dates and names;
- `amend`: a verified draft's figures, titles and citations put right from its passages;
- `brief`: one-article summaries and multi-article briefs by story;
- `markdown`: briefs and summaries rendered as escaped Markdown.

May import: the shared modules, `rag.text` and `rag.generate` (a search arrives as a
function, so nothing here imports `rag.archive`).
"""
