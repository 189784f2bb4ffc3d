"""The preference-study web app (Starlette, served by uvicorn): ``m3t-bench study serve``.

Routes:

- ``GET /``: enter a rater id (remembered in a cookie), or continue as the remembered one.
- ``GET /rate?rater=ID``: the rater's next pair: two clips side by side (left/right as in the rater's
  plan, never the system names), the paper's two questions with "no preference", a submit button. When
  every pair is rated, a thank-you page.
- ``POST /vote`` (``application/x-www-form-urlencoded``: ``rater``, ``pair``, one answer per question):
  stores the vote, then redirects (303) to the next pair.
- ``GET /media/{pair}/{side}?rater=ID``: the clip shown on ``side`` (``left``/``right``) of the rater's pair.
- ``GET /healthz``: ``ok`` (readiness probe).

Bad input is answered with a 4xx page naming the problem, and nothing is stored: 400 malformed form or
rater id, 404 unknown pair, 405 wrong method, 409 pair already rated by this rater, 413 form too large,
415 not a form.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from m3t_bench.errors import UserError
from m3t_bench.study.pairs import MEDIA_TYPES, PairSet
from m3t_bench.study.questions import CHOICES, QUESTION_KEYS, QUESTIONS
from m3t_bench.study.store import StudyStore, VoteRejected, check_rater, valid_rater

#: Largest accepted vote form (bytes).
MAX_FORM_BYTES = 4096
RATER_COOKIE = "m3t_study_rater"
FORM_FIELDS = ("rater", "pair", *QUESTION_KEYS)


def _templates():
    import jinja2
    env = jinja2.Environment(loader=jinja2.PackageLoader("m3t_bench.study", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def parse_vote_form(body: bytes) -> dict[str, str]:
    """The fields of a vote form; :class:`VoteRejected` (400) on anything but exactly :data:`FORM_FIELDS`,
    each once."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=len(FORM_FIELDS) + 1, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise VoteRejected(400, "malformed form data; expected rater, pair and one answer per question") from None
    missing = [k for k in FORM_FIELDS if k not in fields]
    unknown = sorted(set(fields) - set(FORM_FIELDS))
    repeated = [k for k, v in fields.items() if len(v) > 1]
    if missing or unknown or repeated:
        detail = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                          unknown and f"unknown {', '.join(unknown)}",
                                          repeated and f"repeated {', '.join(repeated)}"]))
        raise VoteRejected(400, f"form fields: {detail}; expected {', '.join(FORM_FIELDS)} once each "
                                f"(answers: {', '.join(CHOICES)})")
    return {k: v[0] for k, v in fields.items()}


def create_app(pairs: PairSet, store: StudyStore):
    """The Starlette application serving ``pairs`` and recording votes in ``store`` (already initialised)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    env = _templates()
    title = f"Which clip is better? ({len(pairs.pairs)} pairs)"

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(title=title, **context), status_code=status)

    def rejected(exc: VoteRejected, rater: str | None = None) -> HTMLResponse:
        return page("error.html", status=exc.status, code=exc.status, message=exc.message,
                    rater=rater if valid_rater(rater) else None)

    async def home(request: Request) -> Response:
        remembered = request.cookies.get(RATER_COOKIE)
        return page("home.html", remembered=remembered if valid_rater(remembered) else None)

    async def rate(request: Request) -> Response:
        rater = request.query_params.get("rater", "")
        try:
            check_rater(rater)
            assignment = await run_in_threadpool(store.assignment, rater, pairs)
        except VoteRejected as exc:
            return rejected(exc)
        if assignment is None:
            response = page("done.html", rater=rater, total=len(pairs.pairs))
        else:
            pair = pairs.pair(assignment.pair_id)
            media = {side: {"src": f"media/{pair.id}/{side}?{urlencode({'rater': rater})}",
                            "video": pair.media[system].suffix.lower() in (".mp4", ".webm")}
                     for side, system in (("left", assignment.left_system), ("right", assignment.right_system))}
            response = page("rate.html", rater=rater, pair=pair, assignment=assignment, media=media,
                            questions=QUESTIONS)
        response.set_cookie(RATER_COOKIE, rater, max_age=180 * 86400, samesite="lax", httponly=True)
        return response

    async def vote(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return rejected(VoteRejected(415, f"content type {content_type or 'none'!r}; expected an HTML form "
                                              f"(application/x-www-form-urlencoded)"))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return rejected(VoteRejected(413, f"form larger than {MAX_FORM_BYTES} bytes; expected a vote"))
        form: dict[str, str] = {}
        try:
            form = parse_vote_form(bytes(body))
            await run_in_threadpool(store.record_vote, form["rater"], form["pair"],
                                    {q: form[q] for q in QUESTION_KEYS})
        except VoteRejected as exc:
            return rejected(exc, rater=form.get("rater"))
        return RedirectResponse(f"rate?{urlencode({'rater': form['rater']})}", status_code=303)

    async def media(request: Request) -> Response:
        rater = request.query_params.get("rater", "")
        side = request.path_params["side"]
        pair = pairs.pair(request.path_params["pair"])
        if side not in ("left", "right") or pair is None or not valid_rater(rater):
            return PlainTextResponse("unknown clip; expected /media/<pair>/<left|right>?rater=<id>", status_code=404)
        arrangement = await run_in_threadpool(store.arrangement, rater, pair.id)
        if arrangement is None:
            return PlainTextResponse("this pair is not in the rater's plan", status_code=404)
        path = pair.media[arrangement[0] if side == "left" else arrangement[1]]
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix.lower()], headers={"Cache-Control": "no-store"})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [Route("/", home), Route("/rate", rate), Route("/vote", vote, methods=["POST"]),
              Route("/media/{pair}/{side}", media), Route("/healthz", healthz)]
    return Starlette(routes=routes)


def serve(pairs_path: str | Path, db: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "warning") -> None:
    """Load and check the pairs, bind the database to them, and serve the app until interrupted."""
    import uvicorn

    from m3t_bench.study.pairs import load_pairs
    pairs = load_pairs(pairs_path)
    try:  # a clear message for a taken port (uvicorn would log and exit with code 1)
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); expected a free port and a "
                        f"local address", field="--port") from None
    store = StudyStore(db)
    store.initialise(pairs)
    app = create_app(pairs, store)
    print(f"study: {len(pairs.pairs)} pairs ({pairs.systems[0]} vs {pairs.systems[1]}), votes -> {db}\n"
          f"open http://{host if host not in ('0.0.0.0', '::') else 'localhost'}:{port}/ (Ctrl-C stops)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {host}: anyone who can reach this machine can open the study", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


__all__ = ["FORM_FIELDS", "MAX_FORM_BYTES", "create_app", "parse_vote_form", "serve"]
