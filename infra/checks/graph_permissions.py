"""The Microsoft Graph permissions the deployment grants, checked against Microsoft's own table.

``python -m infra.checks.graph_permissions [ROOT]`` prints every problem (exit 1 if any);
``--write`` rewrites the generated permission tables in docs/deployment.md and README.md.

What it knows:

* ``GRAPH_CALLS``: every Graph call the app makes (method, path template, what for, the feature
  switch that makes the app call it), and the calls phase B will add, as rows not switched on
  yet (``NOT_YET``): switching one on is changing its ``feature`` (and granting what the check
  then asks for). tests/integration/test_graph_schema.py drives every method of the app's Graph
  adapter against the emulator and checks that the calls it records are exactly these rows'.
* The least-privileged application permission of each call comes from Microsoft's table
  (``graph_reference/data/permissions.json``: microsoftgraph/microsoft-graph-devx-content
  ``permissions/new/permissions.json``, the row marked ``least=...Application`` for the method
  and path; :meth:`graph_reference.permissions.PermissionTable.least_privileged`). Where the table
  cannot say, the row names the Graph reference page that does (``Source``): ``$ref`` paths,
  which the table lacks; properties that need their own permission (``accountEnabled``,
  ``employeeLeaveDateTime``); a read of properties beyond what User.ReadBasic.All covers; and one
  table row whose least mark is for another use of the path (``GET /groups/{id}``).
* For every combination of main.bicep's feature parameters, main.bicep is evaluated
  (:mod:`infra.checks.bicep_eval`), the app's own settings parser reads the app settings it
  deploys (``guest_onboarding.config.Settings``) to decide which calls the app makes, and the
  granted permissions must be exactly the least-privileged ones of those calls: none missing
  (a call Graph would refuse with 403), none broader (a grant no call needs at its least). A
  combination the app refuses at start-up (``DELETE_EXPIRED_GUESTS=true`` with another
  ``EXPIRED_GUEST_ACTION``) calls nothing and is skipped, as is one whose ``graphPermissions``
  module a condition leaves out.
* ``python -m infra.hooks.graph_grants --grant`` grants only what its ``APP_PERMISSIONS`` lists
  (a copy: azd runs the hook without the project's packages), which must be exactly the
  least-privileged permissions of the calls the app makes under some switch
  (:func:`app_permissions`): a call switched on asks for its permission there too.
* The permission tables in docs/deployment.md and README.md are generated from the same rows
  (between ``<!-- graph-permissions:... -->`` markers) and must equal what ``--write`` writes.
"""

from __future__ import annotations

import ast
import itertools
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph_reference import permission_table
from graph_reference.permissions import PermissionTable
from infra.checks.bicep_eval import Template, parse_bicep

MAIN_BICEP = Path("infra") / "main.bicep"
GRAPH_MODULE = "graphPermissions"
DEPLOYMENT_DOC = Path("docs") / "deployment.md"
README = Path("README.md")
DOCS = "https://learn.microsoft.com/graph/api/"
GRANT_HOOK = Path("infra") / "hooks" / "graph_grants.py"


# ---- features: what makes the app call what ---------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """A deployment choice that makes the app call Graph: the graph-permissions.bicep switch
    that grants for it, how an operator turns it on, and whether a deployment has it on (read
    from the app settings it deploys, parsed by the app's own ``Settings``)."""

    switch: str | None
    turned_on_by: str
    on: Callable[[Deployment], bool]


@dataclass(frozen=True)
class Deployment:
    """One evaluated deployment: its main.bicep parameters, the settings the app reads from it
    (None when the app would refuse to start with them) and the permissions granted."""

    parameters: Mapping[str, Any]
    settings: Any
    granted: list[str]

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.parameters.items()))


def _expired_action(deployment: Deployment) -> str:
    return str(deployment.settings.expired_guest_action) if deployment.settings else "none"


def _offboard_action(deployment: Deployment) -> str:
    return str(deployment.settings.offboard_action) if deployment.settings else "remove-access"


ALWAYS = Feature(None, "always", lambda d: True)
APP_ROLES = Feature(
    "grantAppRoleAssignment",
    "`APP_ROLE_ASSIGNMENTS_ENABLED=true`, default off",
    lambda d: d.parameters.get("appRoleAssignmentsEnabled") is True,
)
DISABLE_EXPIRED = Feature(
    "grantDisablePermission",
    "`EXPIRED_GUEST_ACTION` is `disable` or `disable-then-delete`, or `OFFBOARD_ACTION` is not "
    "`remove-access` (default `disable`)",
    lambda d: (
        _expired_action(d) in ("disable", "disable-then-delete")
        or _offboard_action(d) != "remove-access"
    ),
)
DELETE_EXPIRED = Feature(
    "grantDeletePermission",
    "`EXPIRED_GUEST_ACTION` or `OFFBOARD_ACTION` is `delete` or `disable-then-delete`, or "
    "`DELETE_EXPIRED_GUESTS=true`",
    lambda d: (
        _expired_action(d) in ("delete", "disable-then-delete")
        or _offboard_action(d) in ("delete", "disable-then-delete")
    ),
)
LEAVE_DATES = Feature(
    "grantLifecycleWrite",
    "`SET_EMPLOYEE_LEAVE_DATE=true`",
    lambda d: bool(d.settings and d.settings.set_employee_leave_date),
)
SPONSORS_FOR_EXISTING = Feature(
    "grantSponsorWrite",
    "`ADD_SPONSORS_TO_EXISTING_USERS=true`",
    lambda d: bool(d.settings and d.settings.add_sponsors_to_existing_users),
)
PROFILE_WRITES = Feature(
    "grantProfileWrite",
    "`GUEST_PROFILE_FIELDS` names a field",
    lambda d: bool(d.settings and d.settings.policy.profile_fields),
)
GROUP_READS = Feature(
    "grantGroupRead",
    "`DETECT_DYNAMIC_GROUPS=true`, default on",
    lambda d: bool(d.settings and d.settings.detect_dynamic_groups),
)
#: A call the app does not make yet (phase B): a row ready to switch on.
NOT_YET = Feature(None, "not called yet", lambda d: False)
#: A call the operator console makes with the operator's own identity (``plan``): never granted
#: to the app, listed so the emulator and the operator know what it needs.
CONSOLE = Feature(None, "the operator console, with the operator's identity", lambda d: False)

#: main.bicep's feature parameters and the values the check tries (every combination).
FEATURE_PARAMETERS: dict[str, tuple[Any, ...]] = {
    "appRoleAssignmentsEnabled": (False, True),
    "deleteExpiredGuests": (False, True),
    "expiredGuestAction": ("none", "disable", "disable-then-delete", "delete"),
    "addSponsorsToExistingUsers": (False, True),
    "offboardAction": ("remove-access", "disable", "disable-then-delete", "delete"),
    "setEmployeeLeaveDate": (False, True),
    "guestProfileFields": ("", "companyName,department"),
    "detectDynamicGroups": (True, False),
}


# ---- the calls ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A Graph reference page and what it says about the call's permission."""

    page: str
    says: str


@dataclass(frozen=True)
class GraphCall:
    """One Graph call of the app (``feature`` NOT_YET: one it will make)."""

    method: str
    path: str
    does: str
    feature: Feature
    #: User properties the call reads ($select, $filter): User.ReadBasic.All reads only a few.
    reads: tuple[str, ...] = ()
    #: Properties a PATCH writes, when the permission depends on them.
    writes: tuple[str, ...] = ()
    #: The least-privileged permissions when Microsoft's table cannot say, with the page that does.
    least: frozenset[str] = frozenset()
    source: Source | None = None
    #: The higher-privileged permissions the page lists (each alone allows the call), where
    #: Microsoft's table has no row for the path.
    higher: frozenset[str] = frozenset()
    #: Another call (its key) whose least-privileged permission also allows this one, per the
    #: table: this call needs no grant of its own.
    covered_by: str | None = None

    @property
    def key(self) -> str:
        written = f" ({', '.join(self.writes)})" if self.writes else ""
        return f"{self.method} {self.path}{written}"

    @property
    def table_path(self) -> str:
        """The path as Microsoft's table has it: ``$ref`` rows are the paths without it."""
        return self.path.removesuffix("/$ref")


#: What User.ReadBasic.All reads, per its own description in Microsoft's table ("display name,
#: first and last name, email address, photo, id and security identifier") plus the UPN, which
#: Graph's "List users" page returns to it; any other user property needs User.Read.All ("the
#: full set of user properties").
READ_BASIC_USER_PROPERTIES = frozenset(
    {"id", "displayName", "givenName", "surname", "mail", "userPrincipalName", "securityIdentifier"}
)
USER_READ_ALL = frozenset({"User.Read.All"})

#: The properties the app selects and filters on (guest_onboarding/adapters/graph/payloads.py
#: USER_FIELDS, PENDING_FIELDS, SPONSOR_FIELDS and the look-up filter); the integration test
#: checks every $select and $filter the app sends names only these.
USER_READS = (
    "id",
    "mail",
    "userPrincipalName",
    "otherMails",
    "proxyAddresses",
    "userType",
    "accountEnabled",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "createdDateTime",
)

FIND_USERS = GraphCall(
    "GET",
    "/users",
    "find a user by address before inviting; list guests still `PendingAcceptance` for the "
    "reminder sweep",
    ALWAYS,
    reads=USER_READS,
)
GET_USER = GraphCall(
    "GET",
    "/users/{id}",
    "read a user's state; resolve a sponsor by id or UPN",
    ALWAYS,
    reads=USER_READS,
)
INVITE = GraphCall(
    "POST", "/invitations", "invite a guest, and re-send the invitation for reminders", ALWAYS
)
ADD_MEMBER = GraphCall(
    "POST",
    "/groups/{id}/members/$ref",
    "add the guest to the groups of its access profile (role-assignable groups still refuse it, "
    "by design)",
    ALWAYS,
    least=frozenset({"GroupMember.ReadWrite.All"}),
    source=Source(
        DOCS + "group-post-members?view=graph-rest-1.0",
        "Add members: application, member of type user: GroupMember.ReadWrite.All (the page's "
        "earlier permission table: GroupMember.ReadWrite.All, Group.ReadWrite.All and "
        "Directory.ReadWrite.All)",
    ),
    higher=frozenset({"Group.ReadWrite.All", "Directory.ReadWrite.All"}),
)
GROUP_PROBE = GraphCall(
    "GET",
    "/groups/{id}/members",
    "after a missing-reference answer, does the group exist (`$select=id`, `$top=1`)?",
    ALWAYS,
    covered_by=ADD_MEMBER.key,
)
ASSIGN_APP_ROLE = GraphCall(
    "POST",
    "/servicePrincipals/{id}/appRoleAssignedTo",
    "assign app roles to the guest",
    APP_ROLES,
)
SERVICE_PRINCIPAL_PROBE = GraphCall(
    "GET",
    "/servicePrincipals/{id}",
    "after a missing-reference answer, does the service principal exist (`$select=id`)?",
    APP_ROLES,
)
DISABLE_USER = GraphCall(
    "PATCH",
    "/users/{id}",
    "disable expired guests and leavers (and enable them again when HR sends them back)",
    DISABLE_EXPIRED,
    writes=("accountEnabled",),
    least=frozenset({"User.EnableDisableAccount.All", "User.Read.All"}),
    source=Source(
        DOCS + "user-update?view=graph-rest-1.0",
        "Update user: to update accountEnabled, User.EnableDisableAccount.All with "
        "User.Read.All is the least-privileged combination",
    ),
)
DELETE_USER = GraphCall(
    "DELETE", "/users/{id}", "delete expired guests and leavers (disabled first)", DELETE_EXPIRED
)
ADD_SPONSOR = GraphCall(
    "POST",
    "/users/{id}/sponsors/$ref",
    "add sponsors to users who already existed",
    SPONSORS_FOR_EXISTING,
    least=frozenset({"User.ReadWrite.All"}),
    source=Source(
        DOCS + "user-post-sponsors?view=graph-rest-1.0",
        "Add sponsor: application, least privileged User.ReadWrite.All, higher "
        "Directory.ReadWrite.All",
    ),
    higher=frozenset({"Directory.ReadWrite.All"}),
)

# Joiner, mover, leaver: every offboarding revokes sessions and removes memberships.
REVOKE_SESSIONS = GraphCall(
    "POST", "/users/{id}/revokeSignInSessions", "revoke a leaver's sessions", ALWAYS
)
REMOVE_MEMBER = GraphCall(
    "DELETE",
    "/groups/{id}/members/{id}/$ref",
    "remove a leaver or mover from a group this app added them to",
    ALWAYS,
    least=frozenset({"GroupMember.ReadWrite.All"}),
    source=Source(
        DOCS + "group-delete-members?view=graph-rest-1.0",
        "Remove member: application, least privileged GroupMember.ReadWrite.All, higher "
        "Directory.ReadWrite.All, Group.ReadWrite.All",
    ),
    higher=frozenset({"Directory.ReadWrite.All", "Group.ReadWrite.All"}),
)
REMOVE_APP_ROLE = GraphCall(
    "DELETE",
    "/servicePrincipals/{id}/appRoleAssignedTo/{id}",
    "remove an app role assignment this app made (a leaver's, a mover's)",
    APP_ROLES,
)
FIND_ASSIGNMENT = GraphCall(
    "GET",
    "/users/{id}/appRoleAssignments",
    "find the id of an assignment to remove when the ledger lacks it (`$filter=resourceId eq`)",
    APP_ROLES,
    covered_by=ASSIGN_APP_ROLE.key,
)
UPDATE_PROFILE = GraphCall(
    "PATCH",
    "/users/{id}",
    "write the profile HR states for a guest this app invited (the fields of "
    "`GUEST_PROFILE_FIELDS`: companyName, department, jobTitle...), the profile step; never a "
    "member or a guest someone else invited (the README's `profile`)",
    PROFILE_WRITES,
    writes=("profile fields",),
)
SET_LEAVE_DATE = GraphCall(
    "PATCH",
    "/users/{id}",
    "write HR's end date (`accessEndsOn`) on the guest",
    LEAVE_DATES,
    writes=("employeeLeaveDateTime",),
    least=frozenset({"User-LifeCycleInfo.ReadWrite.All", "User.Read.All"}),
    source=Source(
        "https://learn.microsoft.com/graph/tutorial-lifecycle-workflows-set-employeeleavedatetime",
        "Set employeeLeaveDateTime: application, User.Read.All and "
        "User-LifeCycleInfo.ReadWrite.All; no higher privileged permission is available",
    ),
)
GET_GROUP = GraphCall(
    "GET",
    "/groups/{id}",
    "read the allow-listed groups' `groupTypes` and `membershipRule`, once per process, to refuse "
    "the dynamic ones by name (handlers/groups.py)",
    GROUP_READS,
    least=frozenset({"GroupMember.Read.All"}),
    source=Source(
        DOCS + "group-get?view=graph-rest-1.0",
        "Get group: application, least privileged GroupMember.Read.All (Microsoft's table marks "
        "Group-NestingSupport.ReadWrite.All least for this path: by its own description it "
        "reads and writes only disableNesting); higher Group.ReadWrite.All, Directory.Read.All, "
        "Directory.ReadWrite.All, Group.Read.All",
    ),
    higher=frozenset(
        {"Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Group.Read.All"}
    ),
)

LIST_GROUPS = GraphCall(
    "GET",
    "/groups",
    "the console's `plan`: list the tenant's dynamic groups "
    "(`$filter=groupTypes/any(c:c eq 'DynamicMembership')`) and their rules",
    CONSOLE,
    least=frozenset({"GroupMember.Read.All"}),
    source=Source(
        DOCS + "group-list?view=graph-rest-1.0",
        "List groups: application, least privileged GroupMember.Read.All; higher "
        "Directory.Read.All, Directory.ReadWrite.All, Group.Read.All, Group.ReadWrite.All "
        "(Microsoft's table marks both Group.ReadBasic.All and Group-NestingSupport.ReadWrite.All "
        "least for the path: the first by its description reads basic properties only, the "
        "second writes disableNesting)",
    ),
    higher=frozenset(
        {"Directory.Read.All", "Directory.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All"}
    ),
)

GRAPH_CALLS: tuple[GraphCall, ...] = (
    INVITE,
    FIND_USERS,
    GET_USER,
    ADD_MEMBER,
    GROUP_PROBE,
    ASSIGN_APP_ROLE,
    SERVICE_PRINCIPAL_PROBE,
    DISABLE_USER,
    DELETE_USER,
    ADD_SPONSOR,
    REVOKE_SESSIONS,
    REMOVE_MEMBER,
    REMOVE_APP_ROLE,
    FIND_ASSIGNMENT,
    UPDATE_PROFILE,
    SET_LEAVE_DATE,
    GET_GROUP,
    LIST_GROUPS,
)


def made_by_app(call: GraphCall) -> bool:
    """The function app makes (or will make, once switched on) this call: not the console."""
    return call.feature is not CONSOLE


#: What the tables say beside a permission (risks, and why a permission is needed at all).
PERMISSION_NOTES: dict[str, str] = {
    "AppRoleAssignment.ReadWrite.All": (
        "**Risk:** its holder can assign any app role of any API, including Microsoft Graph's "
        "own, to any principal, itself included, so a compromised app becomes tenant-wide. Turn "
        "it on only if access profiles or `ALLOWED_APP_ROLES` use app roles. Without it, app "
        "role steps go to `guest-assignments-poison` with `Authorization_RequestDenied`."
    ),
    "Application.Read.All": (
        "Graph requires it next to `AppRoleAssignment.ReadWrite.All` to resolve the resource "
        "service principal (403 without it)."
    ),
    "User.EnableDisableAccount.All": "Together with `User.Read.All` (granted always).",
    "User-LifeCycleInfo.ReadWrite.All": (
        "Together with `User.Read.All` (granted always); writes only the lifecycle properties "
        "(`employeeHireDate`, `employeeLeaveDateTime`)."
    ),
    "User.RevokeSessions.All": (
        "Makes an offboarding take effect now: a leaver's refresh tokens and session cookies "
        "stop working."
    ),
    "User.ReadWrite.All": (
        "**Risk:** far broader than every other grant. Its holder can create users, read and "
        "update the profile of every user who holds no administrator role, members included "
        "(names, job titles, departments, company, usage location, mail-related and sign-in "
        "properties), delete and restore them, invite guests and revoke sessions "
        "(Microsoft's table lists it for `POST /users`, `PATCH` and `DELETE /users/{id}`, "
        "`POST /invitations`); a stolen token of the app could rename employees or change what "
        "dynamic groups see of them, and so who is in those groups. Microsoft's table names "
        "no narrower application permission for these properties (only for `accountEnabled`, "
        "phones, `otherMails`, passwords and identities). Off unless you need it."
    ),
    "GroupMember.Read.All": (
        "Read only. Its holder can read every group's properties (names, rules, settings) and "
        "members, owners included, and every user's group memberships, in the whole tenant; "
        "it changes nothing. Without it (`DETECT_DYNAMIC_GROUPS=false`) a dynamic group on an "
        "allow-list fails at Graph with 403 for each guest instead of being named once."
    ),
    "User.Read.All": (
        "`User.ReadBasic.All`, which Microsoft's table marks least for these paths, does not "
        "read `userType`, `externalUserState` and the other properties the app selects."
    ),
}


# ---- least privilege from the data --------------------------------------------------------------


class LeastUnknown(ValueError):
    """Neither Microsoft's table nor a cited page names the call's least-privileged permission."""


def least_privileged(call: GraphCall, table: PermissionTable | None = None) -> frozenset[str]:
    """The least-privileged application permissions for ``call``: Microsoft's table's, unless
    the row names a page (``least``, ``source``), and User.Read.All for a user read beyond
    User.ReadBasic.All's properties."""
    if call.least:
        return call.least
    table = table or permission_table()
    found = table.least_privileged(call.method, call.table_path)
    if found is None:
        raise LeastUnknown(f"{call.key}: Microsoft's table marks no least-privileged permission")
    if found == {"User.ReadBasic.All"} and set(call.reads) - READ_BASIC_USER_PROPERTIES:
        return USER_READ_ALL
    return found


def allowed_by(call: GraphCall, granted: set[str], table: PermissionTable | None = None) -> bool:
    """Whether ``granted`` allows the call: its least-privileged set, or any permission set
    Microsoft's table lists for the method and path."""
    if least_privileged(call, table) <= granted or call.higher & granted:
        return True
    table = table or permission_table()
    return any(
        alternative <= granted for alternative in table.covering(call.method, call.table_path)
    )


def listed_permissions(call: GraphCall, table: PermissionTable | None = None) -> frozenset[str]:
    """Every permission Microsoft's table or the cited page names for the call."""
    table = table or permission_table()
    return (
        table.permissions_covering(call.method, call.table_path)
        | least_privileged(call, table)
        | call.higher
    )


def catalogue_problems(table: PermissionTable | None = None) -> list[str]:
    """The rows themselves: every ``$ref`` row cites its page, every least permission is known,
    a ``covered_by`` names a row switched on whenever this one is, whose grant the table lists
    for this call."""
    table = table or permission_table()
    problems: list[str] = []
    keys = {call.key: call for call in GRAPH_CALLS}
    if len(keys) != len(GRAPH_CALLS):
        problems.append("two rows of GRAPH_CALLS have the same method, path and properties")
    for call in GRAPH_CALLS:
        if call.path.endswith("/$ref") and (not call.least or call.source is None):
            problems.append(f"{call.key}: $ref paths are not in Microsoft's table; cite the page")
        if call.least and call.source is None:
            problems.append(f"{call.key}: a least-privileged permission without its source")
        try:
            least_privileged(call, table)
        except (LeastUnknown, ValueError) as exc:
            problems.append(str(exc))
        if call.covered_by is not None:
            other = keys.get(call.covered_by)
            if other is None or other.feature != call.feature:
                problems.append(
                    f"{call.key}: covered_by {call.covered_by}, which is not a row "
                    "switched on by the same feature"
                )
            elif not allowed_by(call, set(least_privileged(other, table)), table):
                problems.append(
                    f"{call.key}: Microsoft's table does not list {sorted(least_privileged(other))}"
                    f" ({other.key}'s grant) for it"
                )
    return problems


# ---- the deployment ------------------------------------------------------------------------------


def deployments(root: Path) -> Iterator[Deployment]:
    """main.bicep evaluated with every combination of FEATURE_PARAMETERS."""
    from guest_onboarding.config import Settings, SettingsError

    main_path = root / MAIN_BICEP
    parsed_main = parse_bicep(main_path)
    module_path = main_path.parent / _module_path(parsed_main)
    parsed_module = parse_bicep(module_path)
    names = list(FEATURE_PARAMETERS)
    for values in itertools.product(*FEATURE_PARAMETERS.values()):
        parameters = dict(zip(names, values, strict=True))
        arguments = {"environmentName": "graph", "location": "westeurope", **parameters}
        main = Template(path=main_path, parsed=parsed_main, arguments=arguments)
        instances = main.module_instances(GRAPH_MODULE)
        if not instances:
            continue  # a deployment that leaves the grants out on purpose (a condition)
        module = Template(path=module_path, parsed=parsed_module, arguments=instances[0])
        strings = {k: v for k, v in app_settings(main).items() if isinstance(v, str)}
        try:
            settings: Any = Settings.from_env(strings)
        except SettingsError:
            settings = None  # the app refuses to start: it calls nothing
        yield Deployment(parameters, settings, [str(p) for p in granted_in(module)])


def _module_path(parsed_main: dict[str, Any]) -> str:
    return str(parsed_main["modules"][GRAPH_MODULE]["detail"]["path"])


def app_settings(main: Template) -> dict[str, Any]:
    """The app settings main.bicep passes the function app (its ``appSettings`` variable)."""
    passed = main.modules["api"]["config"]["params"].get("appSettings")
    value = main.evaluate(passed) if isinstance(passed, str) else None
    return dict(value) if isinstance(value, dict) else {}


def granted_in(graph_permissions: Template) -> list[Any]:
    """The Graph app role values a graph-permissions template assigns (one
    ``Microsoft.Graph/appRoleAssignedTo`` per item of its loop)."""
    granted: list[Any] = []
    for name, resource in graph_permissions.resources.items():
        if resource["type"] != "Microsoft.Graph/appRoleAssignedTo":
            continue
        loop = resource["config"].get("loop_type")
        if loop is None:
            granted.append(f"{name}: not a loop over permission names")
            continue
        items = graph_permissions.evaluate(loop["detail"]["array_name"])
        granted.extend(items if isinstance(items, list) else [items])
    return granted


def required_permissions(deployment: Deployment) -> dict[str, list[GraphCall]]:
    """Permission -> the calls of this deployment it is the least privileged for."""
    required: dict[str, list[GraphCall]] = {}
    for call in GRAPH_CALLS:
        if call.covered_by is None and call.feature.on(deployment):
            for permission in sorted(least_privileged(call)):
                required.setdefault(permission, []).append(call)
    return required


def deployment_problems(deployment: Deployment) -> list[str]:
    """Missing and broader grants of one deployment."""
    problems: list[str] = []
    granted = set(deployment.granted)
    label = deployment.describe()
    if len(granted) != len(deployment.granted):
        problems.append(f"a Graph permission is granted twice ({label}): {deployment.granted}")
    required = required_permissions(deployment)
    for permission in sorted(set(required) - granted):
        calls = ", ".join(c.key for c in required[permission])
        problems.append(
            f"Graph permission {permission} is not granted ({label}) but is the least-privileged "
            f"permission for {calls}: Graph would refuse the call"
        )
    for permission in sorted(granted - set(required)):
        problems.append(
            f"Graph permission {permission} is granted ({label}) but is the least-privileged "
            "permission of no call the app makes with these settings: broader than needed"
        )
    for call in GRAPH_CALLS:
        if call.feature.on(deployment) and not allowed_by(call, granted):
            problems.append(f"{call.key} is not allowed by the grants ({label})")
    return problems


def grant_problems(root: Path) -> list[str]:
    """The catalogue's own problems, then every combination's missing and broader grants."""
    problems = catalogue_problems()
    seen: set[str] = set()
    for deployment in deployments(root):
        if deployment.settings is None:
            continue  # settings the app refuses at start-up (DELETE_EXPIRED_GUESTS with disable)
        for problem in deployment_problems(deployment):
            if problem not in seen:
                seen.add(problem)
                problems.append(problem)
    return problems


def app_permissions(table: PermissionTable | None = None) -> frozenset[str]:
    """Every permission some deployment grants: the least-privileged permissions of each call
    the app makes (not ``NOT_YET``) that needs a grant of its own."""
    return frozenset(
        permission
        for call in GRAPH_CALLS
        if call.feature is not NOT_YET and call.covered_by is None
        for permission in least_privileged(call, table)
    )


def _hook_permissions(hook: Path) -> set[str] | None:
    if not hook.is_file():
        return None
    for node in ast.parse(hook.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "APP_PERMISSIONS" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return None


def grant_hook_problems(root: Path) -> list[str]:
    """The grant command's ``APP_PERMISSIONS`` against :func:`app_permissions`."""
    listed = _hook_permissions(root / GRANT_HOOK)
    if listed is None:
        return [f"{GRANT_HOOK} has no APP_PERMISSIONS: the grant command would grant anything"]
    needed = app_permissions()
    return [
        f"{GRANT_HOOK} APP_PERMISSIONS lets the grant command grant {p}, which no Graph call of "
        "the app needs: remove it"
        for p in sorted(listed - needed)
    ] + [
        f"{GRANT_HOOK} APP_PERMISSIONS lacks {p}, the least-privileged permission of a call the "
        "app makes: add it (the grant command refuses it until then)"
        for p in sorted(needed - listed)
    ]


# ---- the generated tables -----------------------------------------------------------------------

BEGIN = (
    "<!-- graph-permissions:{name} "
    "(generated: python -m infra.checks.graph_permissions --write) -->"
)
END = "<!-- graph-permissions:end -->"


def _source(call: GraphCall) -> str:
    if call.source is not None:
        return f"[reference]({call.source.page})"
    return "Microsoft's table"


def permission_rows() -> list[tuple[str, tuple[Feature, ...], list[GraphCall]]]:
    """(permission, the features that grant it, the calls it is least privileged for), in the
    order a reader meets them: always first, then by switch. A permission needed always is
    granted always, whatever else also needs it."""
    rows: dict[str, tuple[tuple[Feature, ...], list[GraphCall]]] = {}
    for call in GRAPH_CALLS:
        if call.feature in (NOT_YET, CONSOLE) or call.covered_by is not None:
            continue
        for permission in sorted(least_privileged(call)):
            features, calls = rows.get(permission, ((), []))
            if call.feature.switch is None:
                features = (call.feature,)
            elif call.feature not in features and not any(f.switch is None for f in features):
                features = (*features, call.feature)
            rows[permission] = (features, [*calls, call])
    order = [
        None,
        "grantAppRoleAssignment",
        "grantDeletePermission",
        "grantDisablePermission",
        "grantSponsorWrite",
        "grantLifecycleWrite",
        "grantProfileWrite",
        "grantGroupRead",
    ]
    return sorted(
        ((p, f, c) for p, (f, c) in rows.items()),
        key=lambda row: (order.index(row[1][0].switch) if row[1][0].switch in order else 99,),
    )


def _granted(features: tuple[Feature, ...], *, short: bool = False) -> str:
    if any(f.switch is None for f in features):
        return "always"
    if short:
        return " or ".join(f.turned_on_by for f in features)
    return " or ".join(f"when `{f.switch}` ({f.turned_on_by})" for f in features)


def deployment_table() -> str:
    """docs/deployment.md's table: every permission, when it is granted, the calls it is least
    privileged for, with the source; then the calls not made yet."""
    lines = [
        "| Permission | Granted | Least privileged for | Notes |",
        "| --- | --- | --- | --- |",
    ]
    for permission, features, calls in permission_rows():
        uses = "; ".join(f"`{c.method} {c.path}` ({_source(c)}): {c.does}" for c in calls)
        lines.append(
            f"| `{permission}` | {_granted(features)} | {uses} | "
            f"{PERMISSION_NOTES.get(permission, '')} |"
        )
    lines += [
        "",
        "Calls the app does not make yet, with the permission each will need (the rows of "
        "`GRAPH_CALLS` marked `NOT_YET`):",
        "",
        "| Call | For | Least privileged | Source |",
        "| --- | --- | --- | --- |",
    ]
    for call in GRAPH_CALLS:
        if call.feature is NOT_YET:
            least = " and ".join(f"`{p}`" for p in sorted(least_privileged(call)))
            lines.append(f"| `{call.key}` | {call.does} | {least} | {_source(call)} |")
    lines += [
        "",
        "Calls the operator console makes with the operator's own identity (`az login`, "
        "`DefaultAzureCredential`), never granted to the app:",
        "",
        "| Call | For | Least privileged | Source |",
        "| --- | --- | --- | --- |",
    ]
    for call in GRAPH_CALLS:
        if call.feature is CONSOLE:
            least = " and ".join(f"`{p}`" for p in sorted(least_privileged(call)))
            lines.append(f"| `{call.key}` | {call.does} | {least} | {_source(call)} |")
    return "\n".join(lines)


def readme_table() -> str:
    """README.md's short table: each permission and when it is granted."""
    lines = ["| Graph permission | Granted |", "| --- | --- |"]
    for permission, features, _ in permission_rows():
        lines.append(f"| `{permission}` | {_granted(features, short=True)} |")
    return "\n".join(lines)


GENERATED: dict[Path, tuple[str, Callable[[], str]]] = {
    DEPLOYMENT_DOC: ("deployment", deployment_table),
    README: ("readme", readme_table),
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(BEGIN.format(name=name)) + r"\n(?:(.*?)\n)?" + re.escape(END), re.DOTALL
    )


def _block(name: str, text: str) -> str:
    return f"{BEGIN.format(name=name)}\n{text}\n{END}"


def generated_table_problems(root: Path) -> list[str]:
    """The tables in docs/deployment.md and README.md differ from the generated ones."""
    problems: list[str] = []
    for relative, (name, render) in GENERATED.items():
        if not (root / relative).exists():
            continue  # contract.readme_problems reports a missing README
        text = (root / relative).read_text()
        found = _pattern(name).search(text)
        if found is None:
            problems.append(f"{relative}: no generated Graph permission table ({name})")
        elif (found.group(1) or "") != render():
            problems.append(
                f"{relative}: the Graph permission table differs from the generated one "
                "(python -m infra.checks.graph_permissions --write)"
            )
    return problems


def write_tables(root: Path) -> list[Path]:
    """Rewrite the generated tables in place (between their markers)."""
    written: list[Path] = []
    for relative, (name, render) in GENERATED.items():
        path = root / relative
        text = path.read_text()
        found = _pattern(name).search(text)
        if found is None:
            raise ValueError(f"{relative}: no {BEGIN.format(name=name)} marker to write between")
        block = _block(name, render())
        path.write_text(text[: found.start()] + block + text[found.end() :])
        written.append(path)
    return written


def problems(root: Path) -> list[str]:
    """Everything this module checks."""
    return grant_problems(root) + grant_hook_problems(root) + generated_table_problems(root)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    write = "--write" in args
    paths = [a for a in args if not a.startswith("--")]
    root = Path(paths[0] if paths else ".").resolve()
    if write:
        for path in write_tables(root):
            print(f"wrote {path}")
    found = problems(root)
    for problem in found:
        print(f"graph permissions: {problem}")
    if not found:
        print("graph permissions: every grant is the least-privileged one a call needs")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
