"""The web app (Gradio): chat, briefs and the library, over `rag.service.Service`.

- `app`: the page layout, the HTTP API and `main` (`python app.py`, `rag serve`);
- `handlers`: what each event does — call the service, render the result;
- `render`: HTML for answers, sources, briefs and articles, all document text escaped;
- `style`: the CSS; `files`, `upload`: storing and unpacking uploads safely.

May import: `rag.service` and the shared modules only; it adds no logic the CLI lacks.
"""
