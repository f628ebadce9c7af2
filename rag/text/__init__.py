"""Text: the pure helpers every wing shares.

- `normalize`: full-width forms, case and stray spaces folded away;
- `quantities`: numbers, amounts, dates and their measures, in Arabic or Chinese numerals;
- `chunking`: sentence spans and the passage windows cut from an article;
- `dates`: 今天 / 上个月 / 2024年3月 turned into date ranges;
- `bigrams`: the one character-bigram overlap used for content matching;
- `words`: jieba, initialised once, and the search tokens BM25 indexes.

May import: the shared modules (`rag.types`) only; nothing else of rag.
"""
