"""fs_client: use an fs feature repository from Python, as a Feast notebook would.

    from fs_client import Repo          # or: from fs_client import FeatureStore
    store = Repo("path/to/repo")
    train = store.get_historical_features(entity_df, ["driver_hourly_stats:conv_rate"]).to_df()

Standard library only; pandas is used when installed (to_df, DataFrame
inputs). See README.md for what differs from Feast.
"""

from .errors import (FsBinaryNotFound, FsCheckFailed, FsError, FsFatalError, FsHTTPError,
                     FsUsageError, FsWarning)
from .repo import FeatureStore, PushMode, Repo
from .results import OnlineResponse, RetrievalJob

__version__ = "0.1.0"

__all__ = ["Repo", "FeatureStore", "PushMode", "RetrievalJob", "OnlineResponse",
           "FsError", "FsCheckFailed", "FsFatalError", "FsUsageError", "FsHTTPError",
           "FsBinaryNotFound", "FsWarning"]
