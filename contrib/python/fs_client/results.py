"""Results of fs_client's reads, shaped like Feast's.

RetrievalJob  what get_historical_features returns: the training set fs
              computed (already complete: fs ran when the call was made),
              as a pandas DataFrame (to_df) or plain Python (to_dict,
              to_records).
OnlineResponse what get_online_features returns: Feast's response body,
              with Feast's to_dict/to_df.

Types: a feature column takes the type its feature view declares (fs
writes every value in JSON already typed); timestamps become aware
datetimes in UTC (pandas: datetime64[ns, UTC]).
"""

from . import _values

# declared feature type -> pandas dtype when the column has no null
_DTYPES = {"int32": "int32", "int64": "int64", "float32": "float32",
           "float64": "float64", "bool": "bool"}


def _pandas(what):
    try:
        import pandas
    except ImportError as e:
        raise ImportError("%s needs pandas, which is not installed; to_dict() and "
                          "to_records() give the same data without it" % what) from e
    return pandas


def _feature_series(pd, name, values, ftype):
    """A feature column as Feast's to_df gives it: ints with a null become
    float64 (NaN), bools with a null stay objects (None), strings are
    objects, timestamps datetime64[ns, UTC] (NaT)."""
    has_null = any(v is None for v in values)
    if ftype == "timestamp":
        return pd.Series(pd.to_datetime([_values.parse_timestamp(v) for v in values], utc=True),
                         name=name)
    if ftype in ("float32", "float64") or (ftype in ("int32", "int64") and has_null):
        nan = float("nan")
        dtype = ftype if ftype.startswith("float") else "float64"
        return pd.Series([nan if v is None else v for v in values], dtype=dtype, name=name)
    if ftype in _DTYPES and not has_null:
        return pd.Series(values, dtype=_DTYPES[ftype], name=name)
    if ftype in ("bool", "string"):
        return pd.Series(values, dtype="object", name=name)
    return pd.Series(values, name=name)  # type unknown: what pandas infers


class RetrievalJob:
    """A point-in-time correct training set (Feast's RetrievalJob).

    columns             the column names, in fs's order: the entity rows'
                        columns, then one per feature
    feature_columns     the feature columns alone
    feature_types       {feature column: declared type} (fs's type names)
    timestamp_column    the entity rows' timestamp column
    """

    def __init__(self, columns, input_columns, rows, feature_types, timestamp_column,
                 user_input=None):
        # rows: fs's JSON objects, one per entity row. user_input: (columns,
        # rows) of the entity rows the caller gave as Python data, or the
        # DataFrame itself; None for a CSV file (fs's echo is used then).
        self.columns = list(columns)
        self._input_columns = list(input_columns)
        inputs = set(input_columns)
        self.feature_columns = [c for c in columns if c not in inputs]
        self.feature_types = dict(feature_types)
        self.timestamp_column = timestamp_column
        self._rows = rows
        self._user_input = user_input

    def __len__(self):
        return len(self._rows)

    def __repr__(self):
        return "<RetrievalJob %d rows, columns %s>" % (len(self._rows), self.columns)

    def _input_values(self):
        """{input column: [values]}: the caller's own values when the entity
        rows came as Python data, else what fs echoed (int64 join keys as
        numbers, other columns as strings)."""
        user = self._user_input
        if user is not None and not _values.is_dataframe(user):
            ucols, urows = user
            return {c: [r[i] for r in urows] for i, c in enumerate(ucols)}
        if user is not None:
            return {str(c): user[c].tolist() for c in user.columns}
        return {c: [r.get(c) for r in self._rows] for c in self._input_columns}

    def to_dict(self, orient="list"):
        """Plain Python, no pandas needed. orient="list" (default):
        {column: [values]}, Feast's OnlineResponse.to_dict shape;
        orient="records": one dict per row (to_records())."""
        if orient == "records":
            return self.to_records()
        if orient != "list":
            raise ValueError("orient: 'list' or 'records', not %r" % (orient,))
        out = {}
        inputs = self._input_values()
        for c in self.columns:
            if c in inputs:
                vals = inputs[c]
                if c == self.timestamp_column:
                    vals = [_values.parse_timestamp(v) if not _values.is_null(v) else None
                            for v in vals]
            else:
                vals = [r.get(c) for r in self._rows]
                if self.feature_types.get(c) == "timestamp":
                    vals = [_values.parse_timestamp(v) for v in vals]
            out[c] = vals
        return out

    def to_records(self):
        """A list with one dict per entity row, in input order."""
        cols = self.to_dict()
        return [{c: cols[c][i] for c in self.columns} for i in range(len(self._rows))]

    def to_df(self):
        """A pandas DataFrame: the entity rows' columns (the caller's
        DataFrame as it was, or a CSV file's columns typed as pandas.read_csv
        types them), the timestamp column as datetime64[ns, UTC], then the
        features typed by their declared types."""
        pd = _pandas("RetrievalJob.to_df()")
        user = self._user_input
        if _values.is_dataframe(user):
            df = user.reset_index(drop=True).copy()
            df.columns = [str(c) for c in df.columns]
        elif user is not None:
            ucols, urows = user
            df = pd.DataFrame(urows, columns=ucols)
        else:
            df = self._echoed_input(pd)
        ts = self.timestamp_column
        if ts in df.columns:
            col = df[ts]
            if str(col.dtype).startswith("datetime64"):
                df[ts] = col.dt.tz_convert("UTC") if col.dt.tz else col.dt.tz_localize("UTC")
            else:
                df[ts] = pd.to_datetime([None if _values.is_null(v) else
                                         _values.parse_timestamp(v) for v in col], utc=True)
        for c in self.feature_columns:
            df[c] = _feature_series(pd, c, [r.get(c) for r in self._rows],
                                    self.feature_types.get(c))
        return df[self.columns]

    def _echoed_input(self, pd):
        """The input columns fs echoed, typed the way pandas.read_csv types
        a CSV file (empty cell = null, nothing else)."""
        import io
        text = _values.to_csv(self._input_columns,
                              [[r.get(c) for c in self._input_columns] for r in self._rows])
        return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


class OnlineResponse:
    """Online feature values (Feast's OnlineResponse).

    response    the JSON body, exactly as fs get-online --json / serve-lite
                gave it: {"metadata": {"feature_names": [...]}, "results":
                [{"values", "statuses", "event_timestamps"}, ...]}
    """

    TIMESTAMP_POSTFIX = "__ts"

    def __init__(self, response):
        self.response = response
        self.feature_names = list(response["metadata"]["feature_names"])
        self._results = response["results"]

    def __repr__(self):
        return "<OnlineResponse %s>" % self.feature_names

    def to_dict(self, include_event_timestamps=False):
        """{name: [values]} for the join keys and every feature; with
        include_event_timestamps, also {name + "__ts": [Unix seconds]} as
        Feast adds them."""
        out = {}
        for name, res in zip(self.feature_names, self._results):
            out[name] = list(res["values"])
            if include_event_timestamps:
                out[name + self.TIMESTAMP_POSTFIX] = [
                    int(_values.parse_timestamp(t).timestamp()) for t in res["event_timestamps"]]
        return out

    def statuses(self):
        """{name: [PRESENT | NOT_FOUND | NULL_VALUE | OUTSIDE_MAX_AGE, ...]}."""
        return {n: list(r["statuses"]) for n, r in zip(self.feature_names, self._results)}

    def event_timestamps(self):
        """{name: [aware datetimes in UTC]} (1970-01-01 for join keys and
        values not found, as fs sends them)."""
        return {n: [_values.parse_timestamp(t) for t in r["event_timestamps"]]
                for n, r in zip(self.feature_names, self._results)}

    def to_df(self, include_event_timestamps=False):
        """pandas.DataFrame(self.to_dict(...)), as Feast does."""
        pd = _pandas("OnlineResponse.to_df()")
        return pd.DataFrame(self.to_dict(include_event_timestamps))
