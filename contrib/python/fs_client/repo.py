"""Repo: a feature repository driven through the fs binary, shaped like
Feast's FeatureStore.

Every call runs `fs -C PATH COMMAND ...` (subprocess; --json where the
command has it) and raises an FsError subclass carrying fs's message and
exit status when fs fails. Given serve_url, get_online_features and push
go to that running `fs serve-lite` over HTTP instead.
"""

import csv
import datetime
import enum
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import warnings

from . import _values
from .errors import FsBinaryNotFound, FsError, FsHTTPError, FsWarning
from .errors import error_from_http, error_from_process
from .results import OnlineResponse, RetrievalJob


class PushMode(enum.Enum):
    """Where push() writes (Feast's PushMode)."""
    ONLINE = 1
    OFFLINE = 2
    ONLINE_AND_OFFLINE = 3


def _push_mode(to):
    """online | offline | online_and_offline (fs's --to) from a string (any
    case), a PushMode of this module or Feast's (by name), or its number."""
    if isinstance(to, int) and not isinstance(to, bool):
        to = {m.value: m for m in PushMode}.get(to, to)
    name = getattr(to, "name", to)
    if isinstance(name, str):
        mode = name.strip().lower().replace("pushmode.", "")
        if mode in {m.name.lower() for m in PushMode}:
            return mode
    raise ValueError("to: expected online, offline or online_and_offline (or a PushMode), not %r"
                     % (to,))


def _refs(features):
    """Feature references for -f: a list of "view:feature" (or views), or
    one feature service name; a Feast FeatureService object by its name."""
    if isinstance(features, str) or hasattr(features, "name"):
        features = [features]
    refs = [f if isinstance(f, str) else getattr(f, "name", None) for f in features or []]
    if not refs or not all(isinstance(r, str) and r for r in refs):
        raise ValueError("features: expected a feature service name or a list of "
                         "\"view:feature\" references, not %r" % (features,))
    return refs


def _time_arg(t):
    """A time for fs's START/END/--at: datetimes and dates as RFC 3339 UTC
    (naive ones are UTC, as in Feast), numbers as Unix seconds, strings as
    they are ("now", "now-2h", "2024-05-01")."""
    if isinstance(t, str):
        return t
    return _values.format_timestamp(_values.parse_timestamp(t))


def _guess_timestamp_column(data, columns, rows):
    """event_timestamp when there is one, else the only datetime column (as
    Feast picks the entity rows' timestamp), else event_timestamp (fs then
    says what is missing)."""
    if "event_timestamp" in columns:
        return "event_timestamp"
    if _values.is_dataframe(data):
        found = [str(c) for c, t in data.dtypes.items() if str(t).startswith("datetime64")]
    else:
        found = [c for i, c in enumerate(columns)
                 if any(r[i] is not None for r in rows) and
                 all(r[i] is None or isinstance(r[i], datetime.datetime) for r in rows)]
    return found[0] if len(found) == 1 else "event_timestamp"


class Repo:
    """A feature repository, driven through the fs binary.

    path        the repository, or a directory inside it (fs walks up to
                fs.yaml); default the current directory. Feast's name
                repo_path= works too.
    fs          the fs binary; default $FS, else `fs` on PATH
    serve_url   a running `fs serve-lite` (http://127.0.0.1:6566): online
                reads and pushes go there
    token       the bearer token for a serve-lite started with --token-file
    timeout     seconds to wait for each fs run or HTTP request (None: no limit)
    """

    def __init__(self, path=".", fs=None, serve_url=None, *, repo_path=None, token=None,
                 timeout=None):
        if repo_path is not None:
            path = repo_path
        self.path = os.path.abspath(os.fspath(path))
        self.serve_url = serve_url.rstrip("/") if serve_url else None
        self.token = token
        self.timeout = timeout
        self._fs_arg = fs
        self._fs_path = None

    def __repr__(self):
        return "Repo(%r%s)" % (self.path, ", serve_url=%r" % self.serve_url if self.serve_url else "")

    # ---- running fs ----

    @property
    def fs_path(self):
        """The fs binary this Repo runs: fs=, else $FS, else `fs` on PATH."""
        if self._fs_path is None:
            if self._fs_arg:
                origin, name = "fs=", os.fspath(self._fs_arg)
            elif os.environ.get("FS"):
                origin, name = "$FS", os.environ["FS"]
            else:
                origin, name = "PATH", "fs"
            if os.sep in name:
                ok = os.path.isfile(name) and os.access(name, os.X_OK)
                found = os.path.abspath(name) if ok else None
            else:
                found = shutil.which(name)
            if not found:
                raise FsBinaryNotFound("no fs binary (%s %s is not an executable): pass "
                                       "fs=PATH, set $FS or put fs on PATH" % (origin, name))
            self._fs_path = found
        return self._fs_path

    def run(self, *args, input=None):
        """Run `fs -C PATH ARGS...` and return its stdout; raise FsError
        (FsCheckFailed, FsFatalError, FsUsageError by exit status) when it
        fails. input: text for its stdin. Anything fs prints on stderr while
        succeeding is issued as an FsWarning."""
        cmd = [self.fs_path, "-C", self.path] + [str(a) for a in args]
        try:
            p = subprocess.run(cmd, input=(input or "").encode("utf-8"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=self.timeout)
        except OSError as e:
            raise FsBinaryNotFound("cannot run %s: %s" % (cmd[0], e), cmd=cmd) from e
        out = p.stdout.decode("utf-8")
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode != 0:
            raise error_from_process(cmd, p.returncode, out, err)
        if err.strip():
            warnings.warn("fs %s: %s" % (args[0] if args else "", err.strip()), FsWarning,
                          stacklevel=3)
        return out

    def _json(self, *args, input=None):
        return json.loads(self.run(*args, "--json", input=input))

    def _request(self, method, path, body=None):
        """One request to serve-lite; its JSON answer, or FsHTTPError."""
        if not self.serve_url:
            raise FsError("no serve_url: this Repo has no serve-lite to talk to")
        url = self.serve_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise error_from_http(url, e.code, e.read().decode("utf-8", "replace")) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FsHTTPError("cannot reach %s: %s" % (url, reason), cmd=url) from None
        return json.loads(text) if text.strip() else {}

    # ---- offline: training sets ----

    def get_historical_features(self, entity_df=None, features=(), full_feature_names=False, *,
                                timestamp_column=None):
        """A point-in-time correct training set: `fs get-historical`.

        entity_df   the entity rows (join keys, a timestamp, any other
                    columns such as labels): a pandas DataFrame, a list of
                    dicts, a dict of columns, or the path of a CSV file
        features    "view:feature" references (or view names), or a
                    feature service name
        timestamp_column  the entity rows' timestamp column; default
                    event_timestamp, else the only datetime column

        Returns a RetrievalJob (to_df(), to_dict(), to_records()); fs has
        already run when this returns.
        """
        if entity_df is None:
            raise ValueError("entity_df is required: fs joins features to entity rows "
                             "(it has no start_date/end_date retrieval)")
        refs = _refs(features)
        user, stdin = None, None
        if isinstance(entity_df, (str, os.PathLike)):
            source = os.path.abspath(os.fspath(entity_df))
            try:
                with open(source, newline="", encoding="utf-8") as f:
                    input_columns = next(csv.reader(f), [])
            except OSError as e:
                raise FsError("entity_df: cannot read %s: %s" % (source, e.strerror)) from e
            ts = timestamp_column or "event_timestamp"
        else:
            input_columns, rows = _values.table_of(entity_df, "entity_df")
            user = entity_df if _values.is_dataframe(entity_df) else (input_columns, rows)
            ts = timestamp_column or _guess_timestamp_column(entity_df, input_columns, rows)
            stdin, source = _values.to_csv(input_columns, rows), "-"
        args = ["get-historical", "--entities", source, "--timestamp-column", ts]
        for r in refs:
            args += ["-f", r]
        if full_feature_names:
            args.append("--full-feature-names")
        out = self.run(*args, "--format", "json", input=stdin)
        rows_out = [json.loads(line) for line in out.splitlines() if line.strip()]
        if rows_out:
            columns = list(rows_out[0])
        else:  # no entity rows: the CSV header still names the columns
            header = self.run(*args, input=stdin).splitlines()
            columns = next(csv.reader(header[:1]), [])
        return RetrievalJob(columns, input_columns, rows_out,
                            self._feature_types(refs, full_feature_names), ts, user)

    def _feature_types(self, refs, full_feature_names):
        """{feature column: declared type} for the references, from the
        registry (`fs describe`); a column whose type cannot be found is left
        out (its values keep the types fs gave them)."""
        specs = {}

        def spec(kind, name):
            if (kind, name) not in specs:
                try:
                    specs[kind, name] = self._json("describe", kind, name).get("spec") or {}
                except (FsError, ValueError):
                    specs[kind, name] = None
            return specs[kind, name]

        def view_types(view):
            return {f.get("name"): f.get("type") for f in (spec("feature_view", view) or {})
                    .get("features") or []}

        picked = []  # (view, feature)
        for ref in refs:
            if ":" in ref:
                picked.append(tuple(ref.split(":", 1)))
            elif spec("feature_view", ref) is not None:
                picked += [(ref, f) for f in view_types(ref)]
            else:
                for entry in (spec("feature_service", ref) or {}).get("features") or []:
                    view = entry.get("view") if isinstance(entry, dict) else entry
                    wanted = entry.get("features") if isinstance(entry, dict) else None
                    picked += [(view, f) for f in (wanted or view_types(view))]
        types = {}
        for view, feature in picked:
            t = view_types(view).get(feature)
            if t:
                types["%s__%s" % (view, feature) if full_feature_names else feature] = t
        return types

    # ---- online ----

    def get_online_features(self, features, entity_rows, full_feature_names=False, *, at=None):
        """Online feature values: `fs get-online --json`, or POST
        /get-online-features of serve-lite when serve_url is set.

        features    "view:feature" references (the CLI also takes views), or
                    a feature service name
        entity_rows a list of dicts ({"driver_id": 1001}), a dict of columns
                    ({"driver_id": [1001, 1002]}) or a DataFrame
        at          read as at this time (CLI only; serve-lite reads at now)

        Returns an OnlineResponse (to_dict(), to_df(), statuses()).
        """
        refs = _refs(features)
        columns, rows = _values.table_of(entity_rows, "entity_rows")
        if self.serve_url:
            if at is not None:
                raise ValueError("at= is not supported through serve-lite (it reads at now)")
            body = {"entities": {c: [_values.to_json_value(r[i]) for r in rows]
                                 for i, c in enumerate(columns)},
                    "full_feature_names": bool(full_feature_names)}
            if len(refs) == 1 and ":" not in refs[0]:
                body["feature_service"] = refs[0]
            else:
                body["features"] = refs
            return OnlineResponse(self._request("POST", "/get-online-features", body))
        args = ["get-online"]
        for r in refs:
            args += ["-f", r]
        for row in rows:
            pairs = []
            for c, v in zip(columns, row):
                cell = _values.to_cell(v)
                if "," in cell or "," in c:
                    raise ValueError("entity_rows: %s=%r: fs get-online -e cannot carry a comma; "
                                     "use serve_url= to read through serve-lite" % (c, cell))
                pairs.append("%s=%s" % (c, cell))
            args += ["-e", ",".join(pairs)]
        if full_feature_names:
            args.append("--full-feature-names")
        if at is not None:
            args += ["--at", _time_arg(at)]
        return OnlineResponse(self._json(*args))

    def push(self, push_source_name, df, to="online", *, allow_registry_cache=True,
             transform_on_write=True):
        """Write rows of a push source: `fs push SOURCE - --to MODE`, or POST
        /push of serve-lite when serve_url is set.

        df      a DataFrame, a list of dicts or a dict of columns: the
                source's columns (join keys, timestamp, features)
        to      online (default), offline (appended to the push source's
                batch source) or online_and_offline; Feast's PushMode
                values and their names are accepted

        Returns fs's summary: {"views": [{"view", "rows", "keys_written", ...}]}.
        allow_registry_cache and transform_on_write are Feast's and ignored.
        """
        mode = _push_mode(to)
        columns, rows = _values.table_of(df, "df")
        if self.serve_url:
            body = {"push_source_name": push_source_name, "to": mode,
                    "df": {c: [_values.to_json_value(r[i]) for r in rows]
                           for i, c in enumerate(columns)}}
            reply = self._request("POST", "/push", body)
            return {"views": reply.get("views", [])}
        args = ["push", push_source_name, "-"]
        if mode != "online":  # online needs no --to (and works with an fs before it)
            args += ["--to", mode]
        return self._json(*args, input=_values.to_csv(columns, rows))

    def materialize(self, start_date, end_date, feature_views=None, *, no_wait=False):
        """`fs materialize START END [-v VIEW]...`: offline -> online.
        Dates: datetimes (naive = UTC), dates, or fs's own texts ("now-2h").
        Returns fs's summary: {"views": [{"view", "start", "end", ...}]}."""
        return self._materialize(["materialize", _time_arg(start_date), _time_arg(end_date)],
                                 feature_views, no_wait)

    def materialize_incremental(self, end_date, feature_views=None, *, no_wait=False):
        """`fs materialize-incremental END [-v VIEW]...`: from each view's
        last end (the first time, END - ttl)."""
        return self._materialize(["materialize-incremental", _time_arg(end_date)],
                                 feature_views, no_wait)

    def _materialize(self, args, feature_views, no_wait):
        if isinstance(feature_views, str):
            feature_views = [feature_views]
        for v in feature_views or []:
            args += ["-v", getattr(v, "name", v)]
        if no_wait:
            args.append("--no-wait")
        return self._json(*args)

    # ---- model registry ----

    def register_model(self, name, artifact, metrics=None, params=None, tags=None,
                       description=None):
        """`fs register-model NAME --artifact PATH|URL ...`: a new version.
        artifact: a local file (relative to the current directory) or an
        http(s) URL; metrics: {name: number}; params, tags: {name: text}.
        Returns the version as `fs models --json` shows it (version,
        stage, artifact, metrics, lineage, ...)."""
        artifact = os.fspath(artifact)
        if "://" not in artifact:
            artifact = os.path.abspath(artifact)
        args = ["register-model", name, "--artifact", artifact]
        for flag, kv in (("--metric", metrics), ("--param", params), ("--tag", tags)):
            for k, v in (kv or {}).items():
                args += [flag, "%s=%s" % (k, _values.to_cell(v))]
        if description is not None:
            args += ["-m", description]
        return self._json(*args)

    def promote(self, name, version, stage, reason=None, force=False, keep_existing=False):
        """`fs promote NAME VERSION STAGE`: stage is none, staging,
        production or archived (any case); version a number or "@production".
        Returns {"model", "version", "from", "to", "forced", "unmet",
        "archived"}. Unmet gates raise FsCheckFailed (its .unmet lists them)."""
        args = ["promote", name, str(version), str(stage).lower()]
        if reason is not None:
            args += ["--reason", reason]
        if force:
            args.append("--force")
        if keep_existing:
            args.append("--keep-existing")
        return self._json(*args)

    def models(self, name=None, at=None):
        """`fs models [NAME]`: the versions (a list of dicts, oldest first).
        With at= (a time): {"model", "at", "stages": {stage: [versions]}},
        which versions held each stage then."""
        args = ["models"] + ([name] if name else [])
        if at is not None:
            return self._json(*args, "--at", _time_arg(at))
        return self._json(*args)["versions"]

    def models_log(self, name):
        """`fs models log NAME`: every registration and transition (a list)."""
        return self._json("models", "log", name)["transitions"]


FeatureStore = Repo
