"""The web app's stylesheet (a module, so it ships with the package)."""

CSS = """
.gradio-container { max-width: 1280px !important; }
.rag-header { display: flex; align-items: baseline; gap: 16px; padding: 4px 2px 0; }
.rag-title { font-size: 22px; font-weight: 700; letter-spacing: 1px; }
.rag-sub { color: var(--body-text-color-subdued); font-size: 14px; }

/* ---- conversation */
.rag-chat {
  height: 420px; overflow-y: auto; padding: 14px 16px; border-radius: 12px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary);
}
.chat-empty { margin: 90px auto 0; max-width: 440px; text-align: center; line-height: 1.9;
  color: var(--body-text-color-subdued); font-size: 14px; }
.chat-empty-title { font-size: 18px; font-weight: 600; color: var(--body-text-color); margin-bottom: 6px; }
.chat-empty-hint { color: #b45309; margin-top: 8px; }
.cite-demo { color: var(--color-accent); font-weight: 700; }
.msg { display: flex; margin: 12px 0; }
.msg.user { justify-content: flex-end; }
.msg.bot { flex-direction: column; align-items: flex-start; }
.bubble { max-width: 88%; padding: 10px 14px; border-radius: 12px; line-height: 1.85;
  font-size: 15px; white-space: pre-wrap; word-break: break-word; }
.msg.user .bubble { background: #2563eb; color: #fff; border-bottom-right-radius: 4px; }
.bubble.answer { background: var(--background-fill-primary); border: 1px solid var(--border-color-primary);
  border-bottom-left-radius: 4px; }
.bubble.refusal { background: #fff7ed; border: 1px solid #fdba74; color: #431407; white-space: normal; }
.refusal-title { font-weight: 700; color: #9a3412; font-size: 15px; }
.refusal-title::before { content: "⚠ "; }
.refusal-note { font-size: 13px; color: #7c2d12; margin-top: 2px; }
.closest { margin-top: 6px; font-size: 14px; }
.closest ul { margin: 2px 0 0 0; padding-left: 18px; }
.closest li { margin: 2px 0; }
.closest a.cite { vertical-align: baseline; font-size: 13px; }
.bubble.error { background: #fef2f2; border: 1px solid #fca5a5; color: #991b1b; white-space: normal; }
.rewritten { font-size: 13px; color: var(--body-text-color-subdued); margin: 0 0 4px 2px; }
.rewritten::before { content: "↪ "; }
.answer-foot { margin-top: 4px; font-size: 12px; color: var(--body-text-color-subdued); white-space: normal; }
.thinking { color: var(--body-text-color-subdued); }
.evidence { margin: 6px 0 0; padding: 8px 12px; border-left: 3px solid var(--color-accent); font-size: 0.92em; }
.evidence-title { font-weight: 600; margin-bottom: 4px; }
.evidence ol { list-style: none; margin: 0; padding: 0; }
.evidence li { margin: 2px 0; }
.evidence-n { color: var(--color-accent); font-weight: 600; }
.evidence-meta { color: var(--body-text-color-subdued); margin-left: 6px; font-size: 0.9em; }
.cursor { display: inline-block; width: 7px; height: 1.05em; margin-left: 2px; vertical-align: text-bottom;
  background: var(--color-accent); animation: rag-blink 1s steps(2) infinite; }
@keyframes rag-blink { 50% { opacity: 0; } }
a.cite { color: #1d4ed8 !important; font-size: 0.78em; font-weight: 700; vertical-align: super;
  text-decoration: none !important; padding: 0 1px; cursor: pointer; }
a.cite:hover { text-decoration: underline !important; background: #dbeafe; border-radius: 3px; }
#ask-row { margin-top: 8px; align-items: stretch; }

/* ---- sources */
.rag-sources { max-height: 600px; overflow-y: auto; padding-right: 2px; }
.sources-empty { color: var(--body-text-color-subdued); font-size: 14px; padding: 18px 14px;
  border: 1px dashed var(--border-color-primary); border-radius: 10px; }
.source-group { margin-bottom: 12px; opacity: .72; }
.source-group.latest { opacity: 1; }
.source-head { font-size: 13px; color: var(--body-text-color-subdued); margin: 2px 2px 6px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.turn-n { display: inline-block; background: var(--color-accent); color: #fff; border-radius: 4px;
  padding: 0 6px; margin-right: 4px; font-size: 12px; }
.cite-entry { border: 1px solid var(--border-color-primary); border-radius: 10px; margin: 0 0 8px;
  background: var(--background-fill-primary); transition: box-shadow .2s, border-color .2s; }
.cite-entry > summary { cursor: pointer; padding: 8px 12px; list-style: none; display: flex;
  flex-wrap: wrap; gap: 2px 8px; align-items: baseline; }
.cite-entry > summary::-webkit-details-marker { display: none; }
.cite-entry > summary::after { content: "展开"; order: 2; margin-left: auto; font-size: 12px;
  color: var(--color-accent); white-space: nowrap; }
.cite-entry[open] > summary::after { content: "收起"; }
.cite-entry.active { border-color: #2563eb; box-shadow: 0 0 0 3px rgba(37, 99, 235, .22); }
.cite-n { color: #1d4ed8; font-weight: 700; order: 0; }
.cite-title { font-weight: 600; flex: 1 1 60%; order: 1; }
.cite-meta { order: 3; width: 100%; font-size: 12px; color: var(--body-text-color-subdued); }
.cite-body { padding: 2px 14px 8px; line-height: 1.9; font-size: 14px; white-space: pre-wrap; word-break: break-word; }
.cite-body .ctx { color: var(--body-text-color-subdued); }
mark.passage { background: #fef9c3; color: #1f2937; padding: 1px 0; border-radius: 2px; }
mark.passage .support { background: #fde047; font-weight: 600; }
.cite-id { padding: 0 14px 8px; font-size: 11px; color: var(--body-text-color-subdued); font-family: ui-monospace, monospace; }

/* ---- briefs */
.panel-title { font-weight: 600; font-size: 15px; margin: 2px 0 -4px; }
.panel-title.second { margin-top: 18px; padding-top: 12px; border-top: 1px solid var(--border-color-primary); }
.rag-brief { line-height: 1.9; font-size: 15px; max-height: 640px; overflow-y: auto; padding: 4px 6px; }
.rag-brief.placeholder, .rag-article.placeholder { color: var(--body-text-color-subdued); font-size: 14px;
  padding: 30px 18px; border: 1px dashed var(--border-color-primary); border-radius: 10px; }
.rag-brief h2 { font-size: 20px; margin: 4px 0 0; }
.rag-brief h3 { font-size: 16px; margin: 14px 0 0; padding-left: 8px; border-left: 3px solid var(--color-accent); }
.brief-meta, .section-meta { color: var(--body-text-color-subdued); font-size: 13px; }
.section-meta { padding-left: 11px; }
.brief-section p { margin: 4px 0 8px; }
.brief-figures { margin: 4px 0 12px; }
.figure-charts { display: flex; flex-wrap: wrap; gap: 12px; }
.figure-chart { margin: 0; }
.figure-chart figcaption { font-size: 13px; text-align: center; color: var(--body-text-color-subdued); }
.figure-chart .line { fill: none; stroke: var(--color-accent); stroke-width: 2; }
.figure-chart circle { fill: var(--color-accent); }
.figure-chart .axis { stroke: var(--border-color-primary); }
.figure-chart text { font-size: 11px; fill: var(--body-text-color); }
.figure-chart text.date { fill: var(--body-text-color-subdued); }
.figure-table { border-collapse: collapse; font-size: 13px; margin-top: 4px; }
.figure-table th, .figure-table td { padding: 2px 10px; border-bottom: 1px solid var(--border-color-primary); }
.figure-table td.num { text-align: right; }
.brief-sources-title { margin: 16px 0 6px; font-size: 14px; color: var(--body-text-color-subdued); }
.rag-brief .rag-sources { max-height: none; }

/* ---- library */
/* empty message areas take no room until there is something to say */
#library-notice:not(:has(.rag-notice)), #ingest-report:not(:has(.rag-ingest)) { display: none !important; }
#articles * { font-family: var(--font) !important; }
#articles .virtual-row, #articles thead { font-size: 13px; }
.rag-stats { display: flex; gap: 10px; flex-wrap: wrap; }
.rag-stats.empty { color: #b45309; padding: 10px 14px; background: #fffbeb; border: 1px solid #fcd34d; border-radius: 10px; }
.stat { padding: 6px 14px; border: 1px solid var(--border-color-primary); border-radius: 10px;
  background: var(--background-fill-primary); min-width: 86px; }
.stat .v { font-size: 17px; font-weight: 700; }
.stat .k { font-size: 12px; color: var(--body-text-color-subdued); }
.stat.model .v { font-size: 13px; font-weight: 500; padding-top: 4px; }
.rag-ingest table { width: 100%; border-collapse: collapse; font-size: 13px; margin-top: 4px; border: none !important; }
.rag-ingest tr { border: none !important; }
.rag-ingest th, .rag-ingest td { text-align: left; padding: 5px 8px; border: none !important;
  border-bottom: 1px solid var(--border-color-primary) !important; vertical-align: top; }
.rag-ingest th { color: var(--body-text-color-subdued); font-weight: 600; background: var(--background-fill-secondary); }
.rag-ingest td.file { font-weight: 600; word-break: break-all; width: 26%; }
.rag-ingest .badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; white-space: nowrap;
  background: #e5e7eb; color: #374151; }
.rag-ingest .st-added .badge, .rag-ingest .st-updated .badge { background: #dcfce7; color: #166534; }
.rag-ingest .st-skipped .badge { background: #fee2e2; color: #991b1b; }
.rag-ingest .st-skipped td { color: #991b1b; }
.rag-article { max-height: 600px; overflow-y: auto; line-height: 1.9; font-size: 15px; padding: 0 4px; }
.rag-article h2 { font-size: 19px; margin: 2px 0; }
.rag-article .subtitle { color: var(--body-text-color-subdued); font-size: 14px; }
.article-meta { font-size: 13px; color: var(--body-text-color-subdued); margin-bottom: 6px; }
.article-body p { margin: 0 0 8px; text-indent: 2em; white-space: pre-wrap; word-break: break-word; }
.captions { font-size: 13px; background: var(--background-fill-secondary); border-radius: 8px; padding: 6px 10px; margin: 6px 0; }
.captions .label { font-weight: 600; }
.captions ul { margin: 0; padding-left: 18px; }
.passages { font-size: 13px; margin: 6px 0; }
.passages summary { cursor: pointer; color: var(--color-accent); }
.passages li { margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
.passages .span { color: var(--body-text-color-subdued); font-family: ui-monospace, monospace; margin-right: 6px; font-size: 11px; }
.rag-notice { padding: 8px 12px; border-radius: 8px; font-size: 14px; margin: 4px 0; }
.rag-notice.ok { background: #f0fdf4; border: 1px solid #86efac; color: #166534; }
.rag-notice.error { background: #fef2f2; border: 1px solid #fca5a5; color: #991b1b; }
.rag-notice.info { background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
"""
