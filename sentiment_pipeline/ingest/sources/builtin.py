"""The built-in profiles: the layouts Jira, Zendesk, Freshdesk, ServiceNow and Salesforce
write, as their documentation describes them. A sources file can adjust any of them by name."""

from sentiment_pipeline.ingest.sources.profile import ColumnSpec, SourceProfile


def _columns(**sources: str | ColumnSpec) -> dict[str, ColumnSpec]:
    return {canonical: spec if isinstance(spec, ColumnSpec) else ColumnSpec(spec) for canonical, spec in sources.items()}


# Jira writes dates in the exporting user's format: 14/Jul/25 3:42 PM by default, and Jira
# Cloud also 6/21/2025 16:14 or 21/Jun/2025 4:14 PM; numeric ones month first unless the file shows otherwise.
JIRA_FORMATS = (
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%y %H:%M",
    "%m/%d/%y %I:%M %p",
)
JIRA_CSV = SourceProfile(
    name="jira",
    kind="csv",
    match=("Issue key", "Summary"),
    columns=_columns(
        ticket_id="Issue key",
        created_at="Created",
        subject="Summary",
        body="Description",
        agent_id="Assignee",
        customer_id="Reporter",
        resolved_at="Resolved",
        status="Status",
        priority="Priority",
        tags=ColumnSpec("Labels", every_copy=True),
        product=ColumnSpec("Component/s", every_copy=True, also=("Components",)),
        comments=ColumnSpec("Comment", every_copy=True),
    ),
    formats=JIRA_FORMATS,
    people=(("Reporter", "Reporter Id"), ("Assignee", "Assignee Id"), ("Creator", "Creator Id")),
)
JIRA_JSON = SourceProfile(
    name="jira_json",
    kind="json",
    match=("key", "fields"),
    records=("issues",),
    columns=_columns(
        ticket_id="key",
        created_at="fields.created",
        subject="fields.summary",
        body="fields.description",
        agent_id="fields.assignee.displayName",
        customer_id="fields.reporter.displayName",
        resolved_at="fields.resolutiondate",
        status="fields.status.name",
        priority="fields.priority.name",
        tags="fields.labels",
        product="fields.components",
        comments="fields.comment.comments",
    ),
    rich_text=True,
)
ZENDESK_JSON = SourceProfile(
    name="zendesk",
    kind="json",
    match=("id", "via", "created_at"),
    records=("tickets", ""),
    columns=_columns(
        ticket_id="id",
        created_at="created_at",
        subject="subject",
        body="description",
        channel="via.channel",
        agent_id="assignee_id",
        customer_id="requester_id",
        status="status",
        priority="priority",
        tags="tags",
    ),
    custom_fields="custom_fields",
)
FRESHDESK_CSV = SourceProfile(
    name="freshdesk",
    kind="csv",
    match=("Ticket ID", "Created time"),
    columns=_columns(
        ticket_id="Ticket ID",
        created_at="Created time",
        subject="Subject",
        body="Description",
        channel="Source",
        agent_id="Agent",
        customer_id="Contact ID",
        status="Status",
        priority="Priority",
        product="Product",
        resolved_at="Resolved time",
        tags=ColumnSpec("Tags", separator=","),
    ),
    formats=("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"),
)
SERVICENOW_CSV = SourceProfile(
    name="servicenow",
    kind="csv",
    match=("number", "short_description", "opened_at"),
    columns=_columns(
        ticket_id="number",
        created_at="opened_at",
        subject="short_description",
        body="description",
        channel="contact_type",
        agent_id="assigned_to",
        customer_id="caller_id",
        status="state",
        priority="priority",
        product="cmdb_ci",
        resolved_at="resolved_at",
    ),
    formats=("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"),
)
SALESFORCE_CSV = SourceProfile(
    name="salesforce",
    kind="csv",
    match=("Case Number", "Date/Time Opened"),
    columns=_columns(
        ticket_id="Case Number",
        created_at="Date/Time Opened",
        subject="Subject",
        body="Description",
        channel="Case Origin",
        agent_id="Case Owner",
        customer_id="Contact Name",
        status="Status",
        priority="Priority",
        product="Product",
        resolved_at="Date/Time Closed",
    ),
    formats=("%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y"),
)

BUILT_IN = (JIRA_CSV, JIRA_JSON, ZENDESK_JSON, FRESHDESK_CSV, SERVICENOW_CSV, SALESFORCE_CSV)
