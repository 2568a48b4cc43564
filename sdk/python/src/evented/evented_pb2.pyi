import datetime

from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UUID(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: bytes
    def __init__(self, value: _Optional[bytes] = ...) -> None: ...

class Cover(_message.Message):
    __slots__ = ("root", "domain")
    ROOT_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    root: UUID
    domain: str
    def __init__(self, root: _Optional[_Union[UUID, _Mapping]] = ..., domain: _Optional[str] = ...) -> None: ...

class EventPage(_message.Message):
    __slots__ = ("num", "force", "created_at", "event", "synchronous", "metadata")
    NUM_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    num: int
    force: bool
    created_at: _timestamp_pb2.Timestamp
    event: _any_pb2.Any
    synchronous: bool
    metadata: EventMetadata
    def __init__(self, num: _Optional[int] = ..., force: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., synchronous: _Optional[bool] = ..., metadata: _Optional[_Union[EventMetadata, _Mapping]] = ...) -> None: ...

class EventMetadata(_message.Message):
    __slots__ = ("correlation_id", "command_id", "caused_by", "caused_by_sequence", "depth", "schema_version")
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSED_BY_FIELD_NUMBER: _ClassVar[int]
    CAUSED_BY_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    command_id: str
    caused_by: Cover
    caused_by_sequence: int
    depth: int
    schema_version: int
    def __init__(self, correlation_id: _Optional[str] = ..., command_id: _Optional[str] = ..., caused_by: _Optional[_Union[Cover, _Mapping]] = ..., caused_by_sequence: _Optional[int] = ..., depth: _Optional[int] = ..., schema_version: _Optional[int] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("sequence", "state")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    state: _any_pb2.Any
    def __init__(self, sequence: _Optional[int] = ..., state: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class EventBook(_message.Message):
    __slots__ = ("cover", "snapshot", "pages", "deadlines")
    COVER_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    DEADLINES_FIELD_NUMBER: _ClassVar[int]
    cover: Cover
    snapshot: Snapshot
    pages: _containers.RepeatedCompositeFieldContainer[EventPage]
    deadlines: _containers.RepeatedCompositeFieldContainer[Deadline]
    def __init__(self, cover: _Optional[_Union[Cover, _Mapping]] = ..., snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., pages: _Optional[_Iterable[_Union[EventPage, _Mapping]]] = ..., deadlines: _Optional[_Iterable[_Union[Deadline, _Mapping]]] = ...) -> None: ...

class Deadline(_message.Message):
    __slots__ = ("id", "due", "command", "cancel")
    ID_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    due: _timestamp_pb2.Timestamp
    command: CommandBook
    cancel: bool
    def __init__(self, id: _Optional[str] = ..., due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., command: _Optional[_Union[CommandBook, _Mapping]] = ..., cancel: _Optional[bool] = ...) -> None: ...

class Projection(_message.Message):
    __slots__ = ("cover", "projector", "sequence", "projection")
    COVER_FIELD_NUMBER: _ClassVar[int]
    PROJECTOR_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    cover: Cover
    projector: str
    sequence: int
    projection: _any_pb2.Any
    def __init__(self, cover: _Optional[_Union[Cover, _Mapping]] = ..., projector: _Optional[str] = ..., sequence: _Optional[int] = ..., projection: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class SynchronousProcessingResponse(_message.Message):
    __slots__ = ("books", "commands", "projections", "position", "waits", "deadlines")
    BOOKS_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    PROJECTIONS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    WAITS_FIELD_NUMBER: _ClassVar[int]
    DEADLINES_FIELD_NUMBER: _ClassVar[int]
    books: _containers.RepeatedCompositeFieldContainer[EventBook]
    commands: _containers.RepeatedCompositeFieldContainer[CommandBook]
    projections: _containers.RepeatedCompositeFieldContainer[Projection]
    position: int
    waits: _containers.RepeatedCompositeFieldContainer[SubscriberWait]
    deadlines: _containers.RepeatedCompositeFieldContainer[Deadline]
    def __init__(self, books: _Optional[_Iterable[_Union[EventBook, _Mapping]]] = ..., commands: _Optional[_Iterable[_Union[CommandBook, _Mapping]]] = ..., projections: _Optional[_Iterable[_Union[Projection, _Mapping]]] = ..., position: _Optional[int] = ..., waits: _Optional[_Iterable[_Union[SubscriberWait, _Mapping]]] = ..., deadlines: _Optional[_Iterable[_Union[Deadline, _Mapping]]] = ...) -> None: ...

class SubscriberWait(_message.Message):
    __slots__ = ("subscriber", "position", "reached", "done")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    REACHED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    subscriber: str
    position: int
    reached: int
    done: bool
    def __init__(self, subscriber: _Optional[str] = ..., position: _Optional[int] = ..., reached: _Optional[int] = ..., done: _Optional[bool] = ...) -> None: ...

class CommandPage(_message.Message):
    __slots__ = ("sequence", "synchronous", "command")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    synchronous: bool
    command: _any_pb2.Any
    def __init__(self, sequence: _Optional[int] = ..., synchronous: _Optional[bool] = ..., command: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class CommandBook(_message.Message):
    __slots__ = ("cover", "pages")
    COVER_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    cover: Cover
    pages: _containers.RepeatedCompositeFieldContainer[CommandPage]
    def __init__(self, cover: _Optional[_Union[Cover, _Mapping]] = ..., pages: _Optional[_Iterable[_Union[CommandPage, _Mapping]]] = ...) -> None: ...

class ContextualCommand(_message.Message):
    __slots__ = ("events", "command")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    events: EventBook
    command: CommandBook
    def __init__(self, events: _Optional[_Union[EventBook, _Mapping]] = ..., command: _Optional[_Union[CommandBook, _Mapping]] = ...) -> None: ...

class Query(_message.Message):
    __slots__ = ("domain", "root", "lower_bound", "upper_bound")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    domain: str
    root: UUID
    lower_bound: int
    upper_bound: int
    def __init__(self, domain: _Optional[str] = ..., root: _Optional[_Union[UUID, _Mapping]] = ..., lower_bound: _Optional[int] = ..., upper_bound: _Optional[int] = ...) -> None: ...

class WaitRequest(_message.Message):
    __slots__ = ("position", "subscribers", "timeout")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    position: int
    subscribers: _containers.RepeatedScalarFieldContainer[str]
    timeout: _duration_pb2.Duration
    def __init__(self, position: _Optional[int] = ..., subscribers: _Optional[_Iterable[str]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WaitResponse(_message.Message):
    __slots__ = ("waits",)
    WAITS_FIELD_NUMBER: _ClassVar[int]
    waits: _containers.RepeatedCompositeFieldContainer[SubscriberWait]
    def __init__(self, waits: _Optional[_Iterable[_Union[SubscriberWait, _Mapping]]] = ...) -> None: ...

class AggregateRoot(_message.Message):
    __slots__ = ("domain", "root")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    domain: str
    root: UUID
    def __init__(self, domain: _Optional[str] = ..., root: _Optional[_Union[UUID, _Mapping]] = ...) -> None: ...

class ProjectionSubscription(_message.Message):
    __slots__ = ("projector", "cover", "key", "after_version")
    PROJECTOR_FIELD_NUMBER: _ClassVar[int]
    COVER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    AFTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    projector: str
    cover: Cover
    key: str
    after_version: int
    def __init__(self, projector: _Optional[str] = ..., cover: _Optional[_Union[Cover, _Mapping]] = ..., key: _Optional[str] = ..., after_version: _Optional[int] = ...) -> None: ...

class ProjectionUpdate(_message.Message):
    __slots__ = ("version", "key", "projection")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    version: int
    key: str
    projection: Projection
    def __init__(self, version: _Optional[int] = ..., key: _Optional[str] = ..., projection: _Optional[_Union[Projection, _Mapping]] = ...) -> None: ...

class LiveQuery(_message.Message):
    __slots__ = ("projector", "key", "client", "since", "version", "updates", "replica")
    PROJECTOR_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    projector: str
    key: str
    client: str
    since: _timestamp_pb2.Timestamp
    version: int
    updates: int
    replica: str
    def __init__(self, projector: _Optional[str] = ..., key: _Optional[str] = ..., client: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., updates: _Optional[int] = ..., replica: _Optional[str] = ...) -> None: ...

class DiscardRequest(_message.Message):
    __slots__ = ("subscriber", "covers", "confirm")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    COVERS_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    subscriber: str
    covers: _containers.RepeatedCompositeFieldContainer[Cover]
    confirm: bool
    def __init__(self, subscriber: _Optional[str] = ..., covers: _Optional[_Iterable[_Union[Cover, _Mapping]]] = ..., confirm: _Optional[bool] = ...) -> None: ...

class DiscardResult(_message.Message):
    __slots__ = ("discarded", "covers")
    DISCARDED_FIELD_NUMBER: _ClassVar[int]
    COVERS_FIELD_NUMBER: _ClassVar[int]
    discarded: int
    covers: _containers.RepeatedCompositeFieldContainer[Cover]
    def __init__(self, discarded: _Optional[int] = ..., covers: _Optional[_Iterable[_Union[Cover, _Mapping]]] = ...) -> None: ...

class DeadlineQuery(_message.Message):
    __slots__ = ("domain", "limit")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    domain: str
    limit: int
    def __init__(self, domain: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class PendingDeadline(_message.Message):
    __slots__ = ("id", "due", "command", "key", "scheduled_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    due: _timestamp_pb2.Timestamp
    command: CommandBook
    key: str
    scheduled_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., command: _Optional[_Union[CommandBook, _Mapping]] = ..., key: _Optional[str] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class KeptSnapshot(_message.Message):
    __slots__ = ("sequence", "type_url", "state_bytes", "created_at")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_URL_FIELD_NUMBER: _ClassVar[int]
    STATE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    type_url: str
    state_bytes: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., type_url: _Optional[str] = ..., state_bytes: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("subscriber", "beginning", "after_position", "time", "saga_commands")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    BEGINNING_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SAGA_COMMANDS_FIELD_NUMBER: _ClassVar[int]
    subscriber: str
    beginning: bool
    after_position: int
    time: _timestamp_pb2.Timestamp
    saga_commands: bool
    def __init__(self, subscriber: _Optional[str] = ..., beginning: _Optional[bool] = ..., after_position: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., saga_commands: _Optional[bool] = ...) -> None: ...

class ResetResult(_message.Message):
    __slots__ = ("position", "replay_until", "segments")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    REPLAY_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    position: int
    replay_until: int
    segments: int
    def __init__(self, position: _Optional[int] = ..., replay_until: _Optional[int] = ..., segments: _Optional[int] = ...) -> None: ...

class SubscriptionStatus(_message.Message):
    __slots__ = ("name", "checkpoint", "read", "delivered", "parked", "pending", "last_error", "synchronous", "head", "segments", "replica", "replay_until", "projector", "version", "state", "lag_seconds", "rate", "eta_seconds", "retries")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    REPLAY_UNTIL_FIELD_NUMBER: _ClassVar[int]
    PROJECTOR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    checkpoint: int
    read: int
    delivered: int
    parked: int
    pending: int
    last_error: str
    synchronous: bool
    head: int
    segments: _containers.RepeatedCompositeFieldContainer[SegmentStatus]
    replica: str
    replay_until: int
    projector: str
    version: int
    state: str
    lag_seconds: float
    rate: float
    eta_seconds: float
    retries: int
    def __init__(self, name: _Optional[str] = ..., checkpoint: _Optional[int] = ..., read: _Optional[int] = ..., delivered: _Optional[int] = ..., parked: _Optional[int] = ..., pending: _Optional[int] = ..., last_error: _Optional[str] = ..., synchronous: _Optional[bool] = ..., head: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[SegmentStatus, _Mapping]]] = ..., replica: _Optional[str] = ..., replay_until: _Optional[int] = ..., projector: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[str] = ..., lag_seconds: _Optional[float] = ..., rate: _Optional[float] = ..., eta_seconds: _Optional[float] = ..., retries: _Optional[int] = ...) -> None: ...

class CutOverRequest(_message.Message):
    __slots__ = ("projector", "version", "force")
    PROJECTOR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    projector: str
    version: int
    force: bool
    def __init__(self, projector: _Optional[str] = ..., version: _Optional[int] = ..., force: _Optional[bool] = ...) -> None: ...

class CutOverResult(_message.Message):
    __slots__ = ("projector", "version", "previous")
    PROJECTOR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    projector: str
    version: int
    previous: int
    def __init__(self, projector: _Optional[str] = ..., version: _Optional[int] = ..., previous: _Optional[int] = ...) -> None: ...

class SegmentStatus(_message.Message):
    __slots__ = ("index", "of", "owner", "token", "position", "expires", "lag")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OF_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    index: int
    of: int
    owner: str
    token: int
    position: int
    expires: _timestamp_pb2.Timestamp
    lag: int
    def __init__(self, index: _Optional[int] = ..., of: _Optional[int] = ..., owner: _Optional[str] = ..., token: _Optional[int] = ..., position: _Optional[int] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lag: _Optional[int] = ...) -> None: ...

class ParkedQuery(_message.Message):
    __slots__ = ("subscriber", "covers")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    COVERS_FIELD_NUMBER: _ClassVar[int]
    subscriber: str
    covers: _containers.RepeatedCompositeFieldContainer[Cover]
    def __init__(self, subscriber: _Optional[str] = ..., covers: _Optional[_Iterable[_Union[Cover, _Mapping]]] = ...) -> None: ...

class ParkedEvent(_message.Message):
    __slots__ = ("subscriber", "position", "cover", "page", "reason", "attempts", "parked_at")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    COVER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PARKED_AT_FIELD_NUMBER: _ClassVar[int]
    subscriber: str
    position: int
    cover: Cover
    page: EventPage
    reason: str
    attempts: int
    parked_at: _timestamp_pb2.Timestamp
    def __init__(self, subscriber: _Optional[str] = ..., position: _Optional[int] = ..., cover: _Optional[_Union[Cover, _Mapping]] = ..., page: _Optional[_Union[EventPage, _Mapping]] = ..., reason: _Optional[str] = ..., attempts: _Optional[int] = ..., parked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReplayResult(_message.Message):
    __slots__ = ("replayed", "failed")
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    replayed: int
    failed: _containers.RepeatedCompositeFieldContainer[ReplayFailure]
    def __init__(self, replayed: _Optional[int] = ..., failed: _Optional[_Iterable[_Union[ReplayFailure, _Mapping]]] = ...) -> None: ...

class ReplayFailure(_message.Message):
    __slots__ = ("cover", "error")
    COVER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    cover: Cover
    error: str
    def __init__(self, cover: _Optional[_Union[Cover, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class UpcastRequest(_message.Message):
    __slots__ = ("domain", "events")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    events: _containers.RepeatedCompositeFieldContainer[UpcastEvent]
    def __init__(self, domain: _Optional[str] = ..., events: _Optional[_Iterable[_Union[UpcastEvent, _Mapping]]] = ...) -> None: ...

class UpcastEvent(_message.Message):
    __slots__ = ("event", "schema_version")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    event: _any_pb2.Any
    schema_version: int
    def __init__(self, event: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., schema_version: _Optional[int] = ...) -> None: ...

class UpcastResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[UpcastEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[UpcastEvent, _Mapping]]] = ...) -> None: ...
