"""The authority administrator's pages: persons (accounts and roles), departments and business systems.

Same rules as every page (console/pages.py): one call as the signed-in person per action, post/redirect/get
with a sentence saying what was done, the service's field violations beside the fields. The menu shows these
pages to administrators only, but PersonService and DirectoryService decide: anyone else gets the service's
refusal on the page.

Secrets (a new person's initial password, a TOTP secret) are shown once, in the answer to the POST that made
them (no-store, like every page), and never put in a session, a URL, a flash message or a log line.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import urllib.parse
from typing import Any

import grpc
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import forms, labels
from console.app import Console, signed_in
from console.errors import Problem
from console.pages import (
    _call,
    _choice,
    _done,
    _ended,
    _expired,
    _page_token,
    _refused,
    _status,
    _text,
    _unknown_action,
)
from console.sessions import Session
from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc, persons_pb2, persons_pb2_grpc

#: Roles the forms offer, in the order the issue lists them (value: PersonRole number).
ROLE_CHOICES = [(persons_pb2.PERSON_ROLE_DATA_OFFICER, "DATA_OFFICER"), (persons_pb2.PERSON_ROLE_APPROVER, "APPROVER"),
                (persons_pb2.PERSON_ROLE_APPLICANT, "APPLICANT"), (persons_pb2.PERSON_ROLE_REVIEWER, "REVIEWER"),
                (persons_pb2.PERSON_ROLE_AUDITOR, "AUDITOR"),
                (persons_pb2.PERSON_ROLE_ADMINISTRATOR, "ADMINISTRATOR")]
ROLE_OPTIONS = {number: labels.ROLE[name] for number, name in ROLE_CHOICES}
STATES = {persons_pb2.PERSON_STATE_ACTIVE: "正常", persons_pb2.PERSON_STATE_DISABLED: "已停用"}
#: Letters and digits that cannot be mistaken for one another when read aloud or copied by hand.
_READABLE = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"
#: Departments offered in the forms' department lists (the directory's first page; a code may be typed too).
DEPARTMENT_CHOICES = 200


def initial_password(username: str = "") -> str:
    """A strong first password (20 random readable characters in groups of five, ~112 bits): the
    administrator passes it on, the person changes it (ChangePassword). Never one holding ``username``, which
    the service refuses (a short username may turn up among random letters by chance, or across a dash)."""
    while True:
        raw = "".join(secrets.choice(_READABLE) for _ in range(20))
        password = "-".join(raw[i:i + 5] for i in range(0, 20, 5))
        if not username or _alnum(username) not in _alnum(password):
            return password


def _alnum(text: str) -> str:
    """``text`` in lower case without separators, as the service compares a username with a password (zhang.san is
    zhangsan in a password too, and a short one may span the groups' dashes); a username typed in full-width
    characters is the ASCII the service makes of it (NFKC)."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if c.isalnum())


def totp_secret(uri: str) -> str:
    """The base32 secret of an ``otpauth://`` URI (for typing into an authenticator app by hand)."""
    return urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query).get("secret", [""])[0]


def role_labels(person: persons_pb2.Person) -> list[str]:
    return [labels.ROLE.get(persons_pb2.PersonRole.Name(r).removeprefix("PERSON_ROLE_"), str(r))
            for r in person.roles]


def _persons(console: Console) -> persons_pb2_grpc.PersonServiceStub:
    return persons_pb2_grpc.PersonServiceStub(console.services.channel)


def _directory(console: Console) -> directory_pb2_grpc.DirectoryServiceStub:
    return directory_pb2_grpc.DirectoryServiceStub(console.services.channel)


def _number(raw: str) -> int:
    return forms.number(raw) or 0  # an int32 enum: anything it cannot hold is no value


async def _departments(console: Console, session: Session, in_service: bool = False) -> dict[str, str]:
    """Department code → name for the forms' lists (empty when the directory does not answer). A retired
    department (RetireDepartment) is left out of a form that gives a department something (``in_service``: the
    service would refuse it), and named 已撤销 in a filter, which still finds its persons and systems."""
    listed, _ = await _call(console, session, _directory(console).ListDepartments,
                            directory_pb2.ListDepartmentsRequest(page_size=DEPARTMENT_CHOICES))
    if not listed:
        return {}
    return {d.code: f"{d.name}（已撤销）" if d.HasField("retire_time") else d.name for d in listed.departments
            if not (in_service and d.HasField("retire_time"))}


def _is_locked(person: persons_pb2.Person, now: float) -> bool:
    return person.HasField("lock_expire_time") and person.lock_expire_time.ToSeconds() > now


# -- 人员 ------------------------------------------------------------------------------------------------------

@signed_in
async def persons(console: Console, request: Request, session: Session) -> Response:
    """Persons, filtered by department, role, state and a name or username on the service, paged with its page
    token."""
    params = request.query_params
    department, role, state = params.get("department", "").strip(), params.get("role", ""), params.get("state", "")
    text = params.get("text", "").strip()
    listed, problem = await _call(console, session, _persons(console).ListPersons, persons_pb2.ListPersonsRequest(
        department_code=department, role=_number(role), state=_number(state), text=text,
        page_size=console.settings.page_size, page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    rows = list(listed.persons) if listed else []
    names = await console.names.departments(session.token, [p.department_code for p in rows])
    choices = await _departments(console, session) if not problem else {}
    return console.page(request, "persons.html", status=_status(problem) if problem else 200, title="人员",
                        persons=rows, names=names, role_options=ROLE_OPTIONS, departments=choices, states=STATES,
                        values={"department": department, "role": role, "state": state, "text": text},
                        params={k: v for k, v in params.items() if k != "page_token" and v},
                        next_token=listed.next_page_token if listed else "", problem=problem,
                        errors=forms.field_errors(problem.fields) if problem else {},
                        locked=lambda p: _is_locked(p, console.sessions.now()), role_labels=role_labels)


def _person_form(console: Console, request: Request, departments: dict[str, str], values: dict[str, Any],
                 problem: Problem | None = None, status: int = 200) -> Response:
    return console.page(request, "person_new.html", status=status, title="新建人员", departments=departments,
                        roles=ROLE_CHOICES, values=values, problem=problem,
                        errors=forms.field_errors(problem.fields, "person.") if problem else {})


@signed_in
async def person_new(console: Console, request: Request, session: Session) -> Response:
    """Creates a person; a local account's first password and TOTP secret are shown on the answer, once."""
    departments = await _departments(console, session, in_service=True)
    if request.method == "GET":
        return _person_form(console, request, departments, {"local": "yes"})
    form = await request.form()
    values: dict[str, Any] = {k: _text(form, k) for k in ("username", "display_name", "department_code", "local")}
    values["roles"] = [_number(str(r)) for r in form.getlist("roles")]
    if unknown := _unknown_roles(form):
        # As 修改角色 says it: the service's "unknown role numbers [0]" was shown beside the roles, in English.
        values["roles"] = [r for r in values["roles"] if r in ROLE_OPTIONS]
        said = f"未知的角色：{'、'.join(unknown)[:100]}，请在列表中勾选。"
        return _person_form(console, request, departments, values, Problem(
            "请按字段旁的提示修改后重新提交。", fields={"person.roles": said},
            code=grpc.StatusCode.INVALID_ARGUMENT), 400)
    password = initial_password(values["username"].strip()) if values["local"] == "yes" else ""
    created, problem = await _call(console, session, _persons(console).CreatePerson, persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=values["username"], display_name=values["display_name"],
                                  department_code=values["department_code"], roles=values["roles"]),
        password=password))
    if problem:
        if _expired(problem):
            return _ended(problem)
        return _person_form(console, request, departments, values, problem, _status(problem))
    person = created.person
    names = await console.names.departments(session.token, [person.department_code])
    return console.page(request, "person_secret.html", title="人员已创建", who=person,
                        department=names.get(person.department_code, ""), role_labels=role_labels(person),
                        password=password, uri=created.totp_provisioning_uri,
                        secret=totp_secret(created.totp_provisioning_uri),
                        done=f"已创建人员 {person.display_name}（{person.username}）。")


@signed_in
async def person_view(console: Console, request: Request, session: Session) -> Response:
    return await _person_page(console, request, session, request.query_params.get("id", ""))


async def _person_page(console: Console, request: Request, session: Session, person_id: str,
                       errors: dict[str, str] | None = None, status: int = 200) -> Response:
    got, problem = await _call(console, session, _persons(console).GetPerson,
                               persons_pb2.GetPersonRequest(id=person_id))
    if problem:
        return _refused(console, request, problem)
    person = got.person
    names = await console.names.departments(session.token, [person.department_code])
    return console.page(request, "person.html", status=status, title=f"人员：{person.display_name}", p=person,
                        department=names.get(person.department_code, ""), role_labels=role_labels(person),
                        roles=ROLE_CHOICES, states=STATES, locked=_is_locked(person, console.sessions.now()),
                        errors=errors or {})


#: The one-click actions: RPC name, request type, and the sentence saying what was done.
ACTIONS = {
    "disable": ("DisablePerson", persons_pb2.DisablePersonRequest, "已停用 {}：不能再登录，已签发的令牌立即失效。"),
    "enable": ("EnablePerson", persons_pb2.EnablePersonRequest, "已启用 {}：可以重新登录。"),
    "unlock": ("UnlockPerson", persons_pb2.UnlockPersonRequest, "已解锁 {}：可以立即重新登录。"),
}


@signed_in
async def person_action(console: Console, request: Request, session: Session) -> Response:
    """Disable, enable, unlock (each says what it did), reset the password / TOTP (the new secret shown once) or
    undo the IdP binding (with the reason typed, which the log keeps)."""
    form = await request.form()
    person_id, action = _text(form, "id"), _text(form, "action")
    stub = _persons(console)
    back = f"/persons/view?id={urllib.parse.quote(person_id)}"
    if action in ACTIONS:
        method, message_type, sentence = ACTIONS[action]
        answer, problem = await _call(console, session, getattr(stub, method), message_type(id=person_id))
        if problem:
            return await _action_refused(console, request, session, person_id, problem)
        return _done(session, sentence.format(f"{answer.person.display_name}（{answer.person.username}）"), back)
    if action == "reset_password":
        password = initial_password()
        answer, problem = await _call(console, session, stub.ResetPersonPassword,
                                      persons_pb2.ResetPersonPasswordRequest(id=person_id, password=password))
        if problem:
            return await _action_refused(console, request, session, person_id, problem)
        return console.page(request, "person_secret.html", title="密码已重置", who=answer.person,
                            password=password, uri="", secret="", role_labels=role_labels(answer.person),
                            department="", done=f"已重置 {answer.person.display_name} 的密码（账号同时解锁，"
                                                "原有登录已失效）。")
    if action == "reset_totp":
        answer, problem = await _call(console, session, stub.ResetPersonTotp,
                                      persons_pb2.ResetPersonTotpRequest(id=person_id))
        if problem:
            return await _action_refused(console, request, session, person_id, problem)
        # The platform shows an administrator no secret: the person enrols their own at their next sign-in.
        return _done(session, f"已重置 {answer.person.display_name}（{answer.person.username}）的动态口令，原身份验证器"
                              "不再有效。此人下次登录时输入密码后，将在登录页面自行绑定新的身份验证器（新密钥只向本人"
                              "显示，管理员看不到），账号同时解锁，原有登录已失效。", back)
    if action == "reset_idp_binding":
        answer, problem = await _call(console, session, stub.ResetPersonIdpBinding,
                                      persons_pb2.ResetPersonIdpBindingRequest(id=person_id,
                                                                               reason=_text(form, "reason")))
        if problem:
            return await _action_refused(console, request, session, person_id, problem)
        return _done(session, f"已解除 {answer.person.display_name}（{answer.person.username}）与统一身份认证账号的"
                              "绑定：此人下次通过统一身份认证登录时绑定所用账号，现有登录已失效。", back)
    return await _person_page(console, request, session, person_id, {"action": "未知的操作，请从人员页面重新选择。"},
                              status=400)


async def _action_refused(console: Console, request: Request, session: Session, person_id: str,
                          problem: Problem) -> Response:
    """Bad input comes back on the person's page beside the action; any other refusal on its own page."""
    if problem.fields and not _expired(problem):
        return await _person_page(console, request, session, person_id,
                                  {"action": "；".join(problem.fields.values()), **problem.fields},
                                  status=_status(problem))
    return _refused(console, request, problem)


def _chosen_roles(form: FormData) -> list[int]:
    return sorted({_number(str(r)) for r in form.getlist("roles")} - {0})


def _unknown_roles(form: FormData) -> list[str]:
    """Submitted role values that are none of the roles offered: dropped, the person would silently have been
    left with the others (none at all, when it was the only one)."""
    return [str(r) for r in form.getlist("roles") if _number(str(r)) not in ROLE_OPTIONS]


@signed_in
async def person_roles(console: Console, request: Request, session: Session) -> Response:
    """Changing roles takes two steps: the page says what changes (and that the person is signed out), then
    SetPersonRoles once confirmed."""
    form = await request.form()
    person_id, roles, etag = _text(form, "id"), _chosen_roles(form), _text(form, "etag")
    if unknown := _unknown_roles(form):
        return await _person_page(console, request, session, person_id,
                                  {"roles": f"未知的角色：{'、'.join(unknown)[:100]}，请在列表中勾选。"}, status=400)
    if _text(form, "confirmed") != "yes":
        got, problem = await _call(console, session, _persons(console).GetPerson,
                                   persons_pb2.GetPersonRequest(id=person_id))
        if problem:
            return _refused(console, request, problem)
        if etag and got.person.etag != etag:
            return await _roles_changed_meanwhile(console, request, session, person_id, roles)
        after = persons_pb2.Person(roles=roles)
        return console.page(request, "person_roles.html", title="确认修改角色", p=got.person,
                            before=role_labels(got.person), after=role_labels(after), roles=roles, etag=etag)
    answer, problem = await _call(console, session, _persons(console).SetPersonRoles,
                                  persons_pb2.SetPersonRolesRequest(id=person_id, roles=roles, etag=etag))
    if problem:
        if problem.code == grpc.StatusCode.ABORTED and problem.reason == "ETAG_MISMATCH":
            return await _roles_changed_meanwhile(console, request, session, person_id, roles)
        if problem.fields and not _expired(problem):
            return await _person_page(console, request, session, person_id,
                                      {"roles": "；".join(problem.fields.values())}, status=_status(problem))
        return _refused(console, request, problem)
    now = "、".join(role_labels(answer.person)) or "无角色"
    return _done(session, f"已将 {answer.person.display_name} 的角色改为：{now}。其现有登录已失效，需重新登录。",
                 f"/persons/view?id={urllib.parse.quote(person_id)}")


async def _roles_changed_meanwhile(console: Console, request: Request, session: Session, person_id: str,
                                   roles: list[int]) -> Response:
    """Another administrator changed the roles after this form was filled in: the person's page again, with the
    roles as they are now, rather than replacing that change with a choice made before it. When they already are
    the roles chosen (the confirmation sent again with the back button, or a refresh: the first one made the
    change), that is said: the page told the administrator that another had changed them and that their change
    had not taken effect, when it had."""
    got, _problem = await _call(console, session, _persons(console).GetPerson,
                                persons_pb2.GetPersonRequest(id=person_id))
    if got is not None and sorted(set(got.person.roles)) == roles:
        now = "、".join(role_labels(got.person)) or "无角色"
        return _done(session, f"{got.person.display_name} 的角色已是：{now}，与您这次选择的相同，未再修改"
                              "（该修改已生效，可能是此前提交过一次）。",
                     f"/persons/view?id={urllib.parse.quote(person_id)}")
    message = "此人的角色已被其他管理员修改（上方为当前角色），本次修改未生效。请核对后重新勾选并提交。"
    return await _person_page(console, request, session, person_id, {"roles": message}, status=409)


# -- 部门与业务系统 ------------------------------------------------------------------------------------------------

@signed_in
async def departments(console: Console, request: Request, session: Session) -> Response:
    return await _departments_page(console, request, session)


async def _departments_page(console: Console, request: Request, session: Session, target: str = "",
                            typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                            said: str = "", status: int = 200) -> Response:
    """The directory's page (the page its address names). ``target``, ``typed``, ``errors`` and ``said``: a rename
    or retirement refused, shown beside that department's form with what was typed, and above the list (``said``,
    naming what was typed: the department may no longer be on the page)."""
    listed, problem = await _call(console, session, _directory(console).ListDepartments,
                                  directory_pb2.ListDepartmentsRequest(page_size=console.settings.page_size,
                                                                       page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    # Only the authority's 管理员 renames (a department's own would be refused AUTHORITY_ONLY): the form is theirs.
    renames = await console.names.is_authority(session.token, session.person.department_code)
    shown = list(listed.departments) if listed else []
    return console.page(request, "departments.html", status=_status(problem) if problem else status, title="部门",
                        departments=shown, problem=problem, renames=bool(renames),
                        merged_names=await _merged_names(console, session, shown), target=target,
                        typed=typed or {}, errors=errors or {}, said=said,
                        next_token=listed.next_page_token if listed else "")


async def _merged_names(console: Console, session: Session, shown: list[directory_pb2.Department]) -> dict[str, str]:
    """The name of each department a retired one on the page was merged into, by code (the directory's name, the
    code itself when it does not answer), so that 已撤销 says into which department."""
    names = await console.names.departments(session.token, {d.merged_into for d in shown if d.merged_into})
    return {code: name or code for code, name in names.items()}


@signed_in
async def department_rename(console: Console, request: Request, session: Session) -> Response:
    """A department's new name (机构改革, RenameDepartment): what was recorded before keeps the old one, which the
    message says, so the administrator does not look for it to be changed in past reports."""
    form = await request.form()
    code, name = _text(form, "code"), _text(form, "name")
    # The name the page showed: another administrator's rename since is said, not overwritten (NAME_CHANGED).
    answer, problem = await _call(console, session, _directory(console).RenameDepartment,
                                  directory_pb2.RenameDepartmentRequest(code=code, name=name,
                                                                        current_name=_text(form, "current_name")))
    if problem and not _expired(problem) and code:
        # The list again, the name typed kept in that department's form with why: a page saying only why, with a
        # link back to the list, lost the name the administrator had typed (a long 机构改革 name among them).
        return await _department_refused(console, request, session, code, "name", str(form.get("name", "")),
                                         problem, f"部门 {code} 未更名为“{str(form.get('name', '')).strip()}”")
    if problem:
        return _refused(console, request, problem)
    renamed = answer.department
    console.names.renamed({"code": renamed.code, "name": renamed.name})  # this replica at once, the event or not
    return _done(session, f"部门 {renamed.code} 现名为“{renamed.name}”。此前的监督评估、报告和管理日志保留当时的名称。",
                 "/departments")


async def _department_refused(console: Console, request: Request, session: Session, code: str, name: str,
                              typed: str, problem: Problem, what: str) -> Response:
    """部门 again after a rename or retirement of department ``code`` was refused: what was typed in its form's
    field ``name`` kept there with why, and said above the list (``what``). A page saying only why, with a link
    back to the list, lost what the administrator had typed (a long 机构改革 name, the department merged into)."""
    why = "；".join(problem.fields.values()) if problem.fields else problem.message
    said = f"{what}：{re.sub(r'^未(更名|撤销)：', '', why)}"  # the sentence's own 未更名： said once
    return await _departments_page(console, request, session, code, {name: typed}, {name: why}, said,
                                   _status(problem))


@signed_in
async def department_retire(console: Console, request: Request, session: Session) -> Response:
    """Retires a department merged into another or abolished (机构改革, RetireDepartment). A refusal says in Chinese
    what still blocks it and how many (console.errors.retirement_sentence), so the administrator knows what to do
    first."""
    form = await request.form()
    code, merged_into = _text(form, "code"), _text(form, "merged_into")
    answer, problem = await _call(console, session, _directory(console).RetireDepartment,
                                  directory_pb2.RetireDepartmentRequest(code=code, merged_into=merged_into))
    if problem and not _expired(problem) and code:
        into = f"（并入 {merged_into}）" if merged_into else ""
        return await _department_refused(console, request, session, code, "merged_into",
                                         str(form.get("merged_into", "")), problem, f"部门 {code} 未撤销{into}")
    if problem:
        return _refused(console, request, problem)
    retired = answer.department
    merged = f"，职责并入部门 {retired.merged_into}" if retired.merged_into else ""
    return _done(session, f"已撤销部门 {retired.name}（{retired.code}）{merged}。其业务系统不能再获取令牌，"
                          "人员不能再登录；此前的授权、申请、监督评估和管理日志仍予保留。", "/departments")


@signed_in
async def systems(console: Console, request: Request, session: Session) -> Response:
    """Business systems (by department), each with the state change DirectoryService offers."""
    if request.method == "POST":
        form = await request.form()
        system_id, action = _text(form, "id"), _choice(form, "action", "disable", "enable")
        directory = _directory(console)
        if not action:
            return _unknown_action(console, request)
        if action == "disable":
            answer, problem = await _call(console, session, directory.DisableSystem,
                                          directory_pb2.DisableSystemRequest(id=system_id))
            done = "已停用业务系统 {}（{}）：它不能再获取令牌，已持有的令牌立即失效。"
        else:
            answer, problem = await _call(console, session, directory.EnableSystem,
                                          directory_pb2.EnableSystemRequest(id=system_id))
            done = "已启用业务系统 {}（{}）：它可以重新获取令牌。"
        if problem:
            return _refused(console, request, problem)
        back = "/systems" + (f"?{request.url.query}" if request.url.query else "")
        return _done(session, done.format(answer.system.name, answer.system.id), back)
    department = request.query_params.get("department", "").strip()
    listed, problem = await _call(console, session, _directory(console).ListSystems, directory_pb2.ListSystemsRequest(
        department_code=department, page_size=console.settings.page_size, page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    rows = list(listed.systems) if listed else []
    return console.page(request, "systems.html", status=_status(problem) if problem else 200, title="业务系统",
                        systems=rows, names=await console.names.departments(session.token,
                                                                            [s.department_code for s in rows]),
                        departments=await _departments(console, session) if not problem else {},
                        department=department, problem=problem,
                        errors=forms.field_errors(problem.fields) if problem else {},
                        params={"department": department} if department else {},
                        next_token=listed.next_page_token if listed else "")


def routes() -> list[Route]:
    return [
        Route("/persons", persons, methods=["GET"]),
        Route("/persons/new", person_new, methods=["GET", "POST"]),
        Route("/persons/view", person_view, methods=["GET"]),
        Route("/persons/action", person_action, methods=["POST"]),
        Route("/persons/roles", person_roles, methods=["POST"]),
        Route("/departments", departments, methods=["GET"]),
        Route("/departments/rename", department_rename, methods=["POST"]),
        Route("/departments/retire", department_retire, methods=["POST"]),
        Route("/systems", systems, methods=["GET", "POST"]),
    ]
