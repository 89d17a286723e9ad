"""What a failed call means to the person in front of the console, in Chinese, and which fields to fix.

The services already say what is wrong (google.rpc.BadRequest names each field); this maps the status code to a
sentence that tells the person what to do and keeps each field violation beside its field on the form.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import grpc

from console.labels import ENTRY_STATE, ROLE
from govshare.catalog.v1 import catalog_pb2
from services.runtime.errors import details_of

_SENTENCES = {
    grpc.StatusCode.INVALID_ARGUMENT: "请按字段旁的提示修改后重新提交。",
    grpc.StatusCode.PERMISSION_DENIED: "您的角色或部门无权执行此操作",
    grpc.StatusCode.NOT_FOUND: "未找到要操作的对象，它可能已被删除或您无权查看",
    grpc.StatusCode.FAILED_PRECONDITION: "当前状态不允许此操作",
    grpc.StatusCode.ABORTED: "该记录已被他人修改，本次修改未生效，请重新打开后再修改",
    grpc.StatusCode.ALREADY_EXISTS: "已存在相同的记录，请换一个代码或名称",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "请求过于频繁，请稍候再试",
    grpc.StatusCode.UNAVAILABLE: "平台服务暂时不可用，您的操作未完成，请稍后重试",
    grpc.StatusCode.DEADLINE_EXCEEDED: "平台服务响应超时，您的操作可能未完成，请刷新后确认再重试",
    grpc.StatusCode.UNAUTHENTICATED: "登录已失效，请重新登录",
}

#: A read (a list, a detail page) that the platform did not answer: nothing was being done, so "your operation may
#: be unfinished" (the sentences above, for a change) sent the person looking for what they might have changed; the
#: data could not be shown, and a refresh asks again.
_READ_SENTENCES = {
    grpc.StatusCode.UNAVAILABLE: "平台服务暂时不可用，数据未能加载：请稍后刷新页面重试",
    grpc.StatusCode.DEADLINE_EXCEEDED: "平台服务响应超时，数据未能加载：请稍后刷新页面重试",
}
#: Whether the request being answered sends a form (POST): a read made on the way to a change (the application
#: read before its reply is sent) that was not answered left the change unsent, which 您的操作未完成 says; only a
#: page opened to read is told its data could not be loaded. Set by console.app for each request it answers.
SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar("console_sending", default=False)
#: The RPCs that only read (their names begin so: GetEntry, ListGrants, SearchEntries, …).
_READ_METHODS = re.compile(r"/(Get|List|Search|Describe)[A-Z]\w*$")


def reads(method_path: str) -> bool:
    """Whether the RPC at ``method_path`` (/govshare.catalog.v1.CatalogService/ListEntries) only reads."""
    return _READ_METHODS.search(method_path) is not None

#: UNAVAILABLE whose cause is a department's system, not the platform (ErrorInfo.reason): what the person can
#: do about it, instead of "the platform is temporarily unavailable, retry later".
DEPARTMENT_UNAVAILABLE = {
    "ENDPOINT_UNAVAILABLE": "提供部门的前置机接口无法连接，目录未发布：请联系提供部门确认前置机已启动、接口地址无误，"
                            "或将目录退回请其修改接口地址",
}

#: Refusals whose reason (ErrorInfo.reason) says more than their status code: what the person can do.
REASON_SENTENCES = {
    "OWN_ESCALATION": "这一申请是您本人提出或提请协调的，不能由您作出协调决定（职责分离）：请由共享主管部门的"
                      "另一位审核员决定",
    "OWN_SUBMISSION": "这一版本由您本人起草、修改或提交，不能由您审核（职责分离）：请由共享主管部门的另一位审核员"
                      "发布或退回",
    "ENDPOINT_REFUSES_PLATFORM": "提供部门的前置机拒绝了平台的调用，目录未发布：请提供部门核对前置机配置的平台公钥"
                                 "（platform.pem）和接口地址（endpoint）与登记的是否一致、服务器时间是否准确，"
                                 "或将目录退回请其修改",
    "ENDPOINT_DOES_NOT_SERVE": "提供部门的前置机不提供目录登记的数据集，目录未发布：请提供部门核对前置机配置"
                               "（dept.yaml 中 resources 的 dataset）与目录登记的接口数据集是否一致，"
                               "或将目录退回请其修改",
    "ENDPOINT_MISSES_ITEMS": "提供部门的前置机未提供目录列出的全部信息项，目录未发布：请提供部门在前置机配置"
                             "（dept.yaml 的 items）中映射缺少的信息项或从目录中删去，或将目录退回请其修改",
    "ENDPOINT_OF_ANOTHER_DEPARTMENT": "目录登记的前置机属于另一个部门，目录未发布：部门只能登记本部门的前置机，"
                                      "请核对接口地址，或将目录退回请其修改",
    "ENDPOINT_IN_USE": "该前置机的数据集已由另一个部门已发布的目录读取：部门的前置机只由本部门登记，"
                       "请登记本部门前置机提供的数据集",
    "UNKNOWN_RELATED_ENTRY": "关联资源代码须为已发布的资源目录或本部门正在编写的目录，已撤销的不可关联：请在草稿中"
                             "核对或删去所列代码后重新提交",
    "IDP_NOT_BOUND": "此人尚未绑定统一身份认证账号，无需解除：其下次通过统一身份认证登录时将绑定所用的账号",
    "DEPARTMENT_NAME_TAKEN": "未更名：已有另一个部门使用这一名称，两个部门同名将无从区分，请核对新名称",
    "REQUEST_ID_REUSED": "此申请表已经提交过，之后改动的内容不会再作为新申请提交；如需另行申请，请重新打开申请页面填写",
    "NO_APPLICATION_NEEDED": "该资源无条件共享，无需申请：本部门的业务系统可以直接查询、核验或下载",
    # A retired resource's undecided applications are closed with it (APPLICATION_CLOSED): nobody refuses them.
    "NOT_PUBLISHED": "该资源目录已撤销或未发布，其使用不能再申请，也不能再同意或准予：已撤销资源的待办申请已随之"
                     "终止，无需答复，刷新页面即可看到；如仍需要，请对现有的资源目录重新申请",
    "PUBLISHED_PROVIDER": "已发布的资源目录不能移交给其他部门：其共享申请和授权由发布它的部门答复和管理。承接的部门请"
                          "自行编目发布该资源，原目录予以撤销",
    "NOT_SHARED_NOW": "该资源在申请后已调整为不予共享，提供部门不能再同意此申请：请填写理由后点击“不予共享”，"
                      "使用部门可提请共享主管部门协调",
    "RESOURCE_RETIRED": "该资源目录已撤销，共享主管部门协调也不能再准予使用，无需提请协调：提供部门的答复即为最终"
                        "结果；如仍需要，请对现有的资源目录重新申请",
    "TERM_ENDED": "所申请的有效期已届满，共享主管部门协调也不能再准予使用，无需提请协调：已被拒绝的，提供部门的"
                  "答复即为最终结果；逾期未答复的，请撤回此申请。如仍需要，请按所需的有效期重新申请",
    "APPLICATION_CLOSED": "所申请的资源目录已撤销，此申请已随之终止，无需再答复、协调或撤回；如仍需要，请对现有的"
                          "资源目录重新申请",
    "METHOD_NOT_OFFERED": "该资源在申请后已不再提供所申请的使用方式，此申请不能再同意或准予：请填写理由后点击"
                          "“不予共享”，使用部门可按现有的使用方式重新申请",
    # Another person acted first (a second 审批人 answering the same dispute, a second 编目员 resolving the same
    # conflict, a 编目员 changing the entry while the 审核员 published it): the page read the service's English.
    "DISPUTE_CLOSED": "该疑义已经答复（可能已由本部门的另一位审批人答复），您的答复未保存：请刷新页面查看已有的答复",
    "CONFLICT_RESOLVED": "该数据冲突已经处理（可能已由他人处理），您的处理未执行：请刷新页面，在已处理的冲突中查看"
                         "处理结果",
    "CHANGED_DURING_REVIEW": "审核期间该目录已被修改，本次审核未生效：请刷新页面，按其当前内容重新审核",
    # 业务系统's 停用, 人员's 停用 or 调整角色: what would leave the platform without its authority or administrators.
    "LAST_AUTHORITY_SYSTEM": "未停用：这是共享主管部门最后一个启用中的业务系统，停用后共享主管部门将无法使用平台："
                             "请先为共享主管部门登记（或启用）另一个业务系统，再停用它",
    "LAST_ADMINISTRATOR": "未执行：此人是平台最后一位在用的管理员，停用或取消其管理员角色后将无人能管理人员："
                          "请先新建或启用另一位管理员",
    # 新建人员 (or a TOTP reset) on a platform whose authorization service has no GOVSHARE_PERSON_SECRET_KEY.
    "LOCAL_ACCOUNTS_NEED_KEY": "平台未配置人员密钥（授权服务的 GOVSHARE_PERSON_SECRET_KEY），不能设置密码和动态口令，"
                               "人员只能通过统一身份认证登录：请平台运维人员按部署文档配置该密钥后重启授权服务",
}

#: RetireDepartment's blockers (services/authorization/retirement.BLOCKERS' metadata): what each is and what to do.
RETIREMENT_BLOCKERS = (
    ("published_entries", "条已发布的资源目录", "撤销这些目录，或由承接职责的部门另行编目发布"),
    ("entries_in_review", "条待审核的资源目录", "由共享主管部门的审核员将其退回"),
    ("live_grants", "项有效授权（作为提供方或使用方）", "收回这些授权"),
    ("open_applications", "件待办的共享申请", "答复、协调或撤回这些申请"),
    ("open_disputes", "件针对其所提供数据的待答复疑义", "由该部门的审批人在“疑义与冲突”页答复"),
    ("enabled_systems", "个启用中的业务系统", "在“业务系统”页停用"),
    ("active_persons", "名在用的人员", "在“人员”页停用"),
)
RETIREMENT_REFUSALS = {
    "AUTHORITY_DEPARTMENT": "共享主管部门负责平台的运行，不能撤销。",
    "MERGED_INTO_ITSELF": "部门不能并入其自身：请填写承接其职责的另一个部门，或留空。",
    "MERGED_INTO_RETIRED": "承接职责的部门本身已撤销：请填写仍在运行的部门，或留空。",
}


def retirement_sentence(reason: str, metadata: Mapping[str, str]) -> str | None:
    """A RetireDepartment refusal, or anything refused because its department is retired, in Chinese: every
    blocker with its count and what to do first; None for another reason."""
    if reason == "DEPARTMENT_RETIRED":
        code, when, into = (metadata.get(k, "") for k in ("department_code", "retire_date", "merged_into"))
        merged = f"，职责已并入部门 {into}" if into else ""
        return f"部门 {code} 已于 {when} 撤销{merged}：不能再以该部门的名义办理此事项。"
    if reason in RETIREMENT_REFUSALS:
        return RETIREMENT_REFUSALS[reason]
    if not reason.startswith("DEPARTMENT_HAS_"):
        return None
    parts = [f"{metadata[name]} {what}（请先{todo}）" for name, what, todo in RETIREMENT_BLOCKERS if metadata.get(name)]
    return "未撤销：该部门仍有" + "、".join(parts) + "。请先逐项办结，再撤销该部门。"


#: What a NOT_FOUND names (services/runtime/errors.not_found: "<what> <id> not found"), in Chinese.
_NOT_FOUND = re.compile(r"(application|grant|system|catalog entry|department|resource|person|dispute|conflict) "
                        r"['\"]?(.*?)['\"]?( version (\d+))? not found", re.DOTALL)
_OBJECTS = {"application": "申请", "grant": "授权", "system": "业务系统", "catalog entry": "目录", "department": "部门",
            "resource": "资源", "person": "人员", "dispute": "疑义", "conflict": "数据冲突"}


#: What an ALREADY_EXISTS names (services/runtime/errors.already_exists: "<what> <id> already exists").
_EXISTS = re.compile(r"(catalog entry|department|a person with username) ['\"]?(.*?)['\"]? already exists", re.DOTALL)
#: What each means to the person who typed the code or username, and where to look: the one they typed may have
#: been saved by their own earlier sending, whose answer was lost (平台服务暂时不可用 on the form, then sent again).
_EXISTS_SENTENCES = {
    "catalog entry": "信息资源代码 {} 已被另一条目录使用：请换一个代码。如您刚才保存这份草稿时页面提示平台服务不可用"
                     "或超时，草稿可能已经保存，请先在“编目”中查找该代码",
    "a person with username": "用户名 {} 已被使用：请换一个用户名。如您刚才创建此人员时页面提示平台服务不可用或超时，"
                              "人员可能已经创建（其初始密码未能显示），请在“人员”中查找，需要时重置其密码和动态口令",
    "department": "部门 {} 已经登记，不能重复登记",
}


def exists_sentence(detail: str) -> str | None:
    """An ALREADY_EXISTS in Chinese, naming the code or username taken; None for a text of another form. The page
    said "已存在相同的记录，请换一个代码或名称：catalog entry 101001/000001 already exists"."""
    found = _EXISTS.fullmatch(detail)
    return _EXISTS_SENTENCES[found.group(1)].format(found.group(2)) + "。" if found else None


def not_found_text(detail: str) -> str:
    """A NOT_FOUND's object in Chinese ("申请 app-…", "目录 101001/000001（第 2 版）"): the page said
    "未找到要操作的对象…：application 'app-…' not found", the service's English after the Chinese sentence. A text of
    another form is kept as it is (it still names what was looked for)."""
    found = _NOT_FOUND.fullmatch(detail)
    if found is None:
        return detail
    version = f"（第 {found.group(4)} 版）" if found.group(4) else ""
    return f"{_OBJECTS[found.group(1)]} {found.group(2)}{version}"


#: A PERMISSION_DENIED by its reason, said whole in Chinese (the services' text after the sentence was English:
#: "您的角色或部门无权执行此操作：only the applicant, the provider and the authority see an application").
_DENIED = {
    "NOT_INVOLVED": "此事项与您的部门无关：只有使用部门、提供部门和共享主管部门可以查看和办理。",
    "NOT_PROVIDER": "此事项须由资源的提供部门（或共享主管部门）办理，您的部门不是提供部门。",
    "NOT_APPLICANT": "此事项须由提出申请的使用部门办理，您的部门不是该申请的使用部门。",
    "OWN_APPLICATION": "本部门提出的申请不能由本部门审批（职责分离），已由共享主管部门协调。",
    "AUTHORITY_ONLY": "此操作仅限共享主管部门。",
    "NOT_AUTHORITY": "此操作仅限共享主管部门。",
    "ADMINISTRATOR_ONLY": "此操作仅限共享主管部门的管理员。",
    "PERSON_REQUIRED": "此决定须由人员登录控制台后作出，业务系统的令牌不能办理。",
    "PASSWORD_CHANGE_REQUIRED": "您的密码由管理员设置，请先在“修改密码”中设置只有您自己知道的新密码，"
                                "之后才能办理其他事项。",
}
#: What a person whose role may not do something can do about it.
_ASK_ADMIN = "如工作需要，请联系共享主管部门的管理员调整您的角色。"


def denied_sentence(reason: str, metadata: Mapping[str, str], detail: str,
                    department_names: Mapping[str, str] | None = None) -> str | None:
    """A PERMISSION_DENIED in Chinese, from its reason and ErrorInfo metadata (the role required, the department
    whose matter it is: services/runtime/duties.py, named by ``department_names`` when the console found its
    name); None for a reason the console has no sentence for."""
    roles = "或".join(ROLE.get(r, r) for r in metadata.get("required_role", "").split(",") if r) or "相应角色的人员"
    if reason == "ROLE_REQUIRED" and detail.startswith("only the authority's"):
        return f"此操作须由共享主管部门的{roles}办理。"
    if reason == "ROLE_REQUIRED":
        return f"此操作须由{roles}办理，您当前的角色无权办理。{_ASK_ADMIN}"
    if reason == "NOT_YOUR_DEPARTMENT":
        department = metadata.get("department_code", "")
        name = (department_names or {}).get(department, "")
        whose = name or (f"部门 {department}" if department else "其他部门")
        return f"此事项属于{whose}，须由该部门的{roles}办理，您的部门无权办理。"
    return _DENIED.get(reason)


#: Reasons whose sentence says all the person needs: the service's English is not added after it (a reused
#: request_id read "此申请表已经提交过…：request_id … was already used for application app-…, which asked for
#: something else: make a new request_id for a new application"); the application it names is kept.
SAID_WHOLE = frozenset({"REQUEST_ID_REUSED", "NO_APPLICATION_NEEDED", "NOT_SHARED_NOW", "NOT_PUBLISHED",
                        "METHOD_NOT_OFFERED", "RESOURCE_RETIRED", "TERM_ENDED", "APPLICATION_CLOSED",
                        "DEPARTMENT_NAME_TAKEN", "DISPUTE_CLOSED", "CONFLICT_RESOLVED", "CHANGED_DURING_REVIEW",
                        "LAST_AUTHORITY_SYSTEM", "LAST_ADMINISTRATOR", "LOCAL_ACCOUNTS_NEED_KEY"})
_APPLICATION_ID = re.compile(r"\bapplication (app-[0-9a-f]+)")


def _application_named(detail: str) -> str:
    """"（已提交的申请：app-…）" when the service's text names an application, else ""."""
    found = _APPLICATION_ID.search(detail)
    return f"（已提交的申请：{found.group(1)}）" if found else ""


def entry_state_sentence(metadata: Mapping[str, str]) -> str | None:
    """A catalog step refused for the state its entry's version is in (INVALID_STATE: services/catalog/lifecycle.
    wrong_state's metadata), in Chinese: most often another person acted first (a second 审核员 publishing what the
    first already published, a colleague's 提交审核), and the page read '当前状态不允许此操作：entry … version 1 is
    PUBLISHED: only SUBMITTED entries can be reviewed'. None without the entry's code in the metadata."""
    code, version = metadata.get("code", ""), metadata.get("version", "")
    if not code:
        return None
    which = f"目录 {code} 第 {version} 版" if version else f"目录 {code}"
    return (f"{which}当前为“{_entry_state(metadata)}”，不能办理此操作（可能已由他人办理）："
            "请刷新页面，按其当前状态办理。")


def entry_changed_sentence(metadata: Mapping[str, str]) -> str | None:
    """An entry edit refused because someone changed the entry after the form was opened (the catalog's
    ETAG_MISMATCH, services/catalog/lifecycle.require_etag's metadata), in Chinese: the form read '该记录已被他人
    修改…：entry … was changed since you read it (now version 2, DRAFT, last changed … Beijing time): nothing was
    changed; read the entry again and redo your edit'. None without the entry's code in the metadata (a grant's or
    a person's, which their pages say themselves)."""
    code, version, changed = metadata.get("code", ""), metadata.get("version", ""), metadata.get("changed", "")
    if not code:
        return None
    now = f"现为第 {version} 版“{_entry_state(metadata)}”" + (f"，最后修改于北京时间 {changed}" if changed else "")
    return f"您打开目录 {code} 后，它已被他人修改（{now}），您的修改未保存：请重新打开该目录，核对后再修改。"


def _entry_state(metadata: Mapping[str, str]) -> str:
    """The console's name of the entry state a catalog refusal's metadata names (DRAFT → 草稿)."""
    state = metadata.get("state", "")
    try:
        return ENTRY_STATE.get(catalog_pb2.EntryState.Value(f"ENTRY_STATE_{state}"), state)
    except ValueError:
        return state


#: A page token the service refused (garbage, forged, expired, from another list or issued to another person: a
#: link forwarded by a colleague): what the person can do.
PAGE_TOKEN_REFUSED = ("分页链接无效或已过期（可能来自另一个列表，或是别人转发的链接：分页链接只对打开它的人有效），"
                      "请回到列表第一页重新浏览。")


def _zero_parts(match: re.Match[str]) -> str:
    """A new entry's code with a part of zeros only (services/catalog/rules.zero_parts_problem), each part named with
    the numbers it may take: 代码的项“00”不能全为 0（可用 01-99）…"""
    parts = re.findall(r"(\S+) (\d+) \(allowed: ([\d-]+)\)", match.group(1))
    said = "；".join(f"{part}“{value}”不能全为 0（可用 {allowed}）" for part, value, allowed in parts)
    return f"信息资源代码的{said}：请按分类编号重新填写代码。"


#: What a grant's adjustment names beyond its application (services/authorization/grants.py), in Chinese.
_ADJUSTED_BEYOND = {"item": "信息项", "purpose": "用途", "share method": "使用方式", "system": "业务系统"}


def _not_requested(match: re.Match[str]) -> str:
    """An adjustment of a grant naming what its application did not ask for: 授权 read the service's English."""
    what, value, application = match.group(1), match.group(2), match.group(3)
    return (f"{_ADJUSTED_BEYOND.get(what, what)} {value} 不在申请 {application} 申请的范围内：调整授权与答复申请一样，"
            "只能在申请的范围内缩小或恢复；使用部门如有新的需要，应重新申请。")


#: What to do instead of granting basic items alone, by the service's last words (applications.basic_only_problems).
_BASIC_ONLY_OTHERWISE = {"refuse": "填写理由后点击“不予共享”", "revoke the grant": "撤销授权",
                         "ask the authority to revoke it": "商共享主管部门撤销授权"}


def _basic_only(match: re.Match[str]) -> str:
    """An approval, coordination grant or adjustment of a foundation resource's basic items alone (R-SHR-4), which
    gives nothing: 答复, 协调 and 授权 showed the service's English. The console unmasks nothing, so it names the other
    items applied for, or the refusal (revocation)."""
    items, others, otherwise = match.group(1), match.group(2), match.group(3)
    also = f"请同时勾选申请的其他信息项（{others.replace(', ', '、')}），或" if others else "请"
    return (f"{items.replace(', ', '、')} 是基础信息项，各部门无需授权即可使用：只授予这些信息项，等于什么也没有授权。"
            f"{also}{_BASIC_ONLY_OTHERWISE[otherwise]}。")


#: A sentence, or how to say a description whose parts vary (pattern.sub takes either).
def _id_sentence(found: re.Match[str]) -> str:
    """An id that begins as one does but is not one (validation.malformed_id), as the person is told it."""
    characters = "小写十六进制数字" if found[4] == "hex digits" else "小写字母或数字"
    return (f"“{found[1]}”不是完整的平台编号（编号以 {found[2]} 开头，其后为 {found[3].replace(' to ', ' 至 ')} 位"
            f"{characters}）{_id_slip(found[5])}：请从列表中打开，或核对后重新填写。")


def _id_slip(said: str) -> str:
    """What the service said differs in an id that begins as one does (validation.malformed_id's last words)."""
    length = re.fullmatch(r"; this one has (\d+) \((cut short|joined to more)\?\)", said)
    if length:
        if length[2] == "cut short":
            return f"，此处只有 {length[1]} 位，可能被截断"
        return f"，此处有 {length[1]} 位，可能连带了多余的字符"
    if said == "; write it in lower case":
        return "，此处含大写字母，请改为小写"
    character = re.fullmatch(r"; its character (\d+) is '(.)'", said)
    return f"，第 {character[1]} 个字符“{character[2]}”不应出现在编号中" if character else ""


_Sentence = str | Callable[[re.Match[str]], str]
#: What a person is told of a required field left empty.
REQUIRED = "此项必填，请选择或填写。"
#: The services' field violations (services/runtime/errors.py, services/catalog/rules.py, the authorization
#: service's checks) are written in English for developers; what a person is shown beside a field is this Chinese
#: sentence instead, the first pattern that matches the whole description.
_FIELD_SENTENCES: tuple[tuple[re.Pattern[str], _Sentence], ...] = tuple((re.compile(pattern, re.DOTALL), text) for
                                                                  pattern, text in (
    (r"(?:is )?required(?:: one of .*)?", REQUIRED),
    (r"is required: .*", "此项必填，请填写。"),
    (r"must not be empty", "此项必填，请填写。"),
    # services.runtime.errors.text_not_storable: a filter holding NUL (an edited link's %00), field "request".
    (r"a text field contains a NUL character \(U\+0000\).*",
     "填写的内容或链接中含有空字符（U+0000，页面上看不到，多来自改动过的链接或复制的内容）：请删去后重新提交，"
     "或从菜单重新打开本页。"),
    # A dispute's record (services/query/keys.py, identifiers.py) and resource (dispute_servicer._reportable).
    # services.runtime.identifiers._stray_character: the character that is not a digit (or a code's letter).
    # A letter the code holds there, typed in lower case (a form's field checked as typed).
    (r"(统一社会信用代码|公民身份号码) must [^:]*: character (\d+) is the lower-case letter (.): write it as (.)"
     r"(?:, or leave it empty .*)?",
     r"\1第 \2 位的字母应为大写 \4（填写的是小写 \3），请改为大写后重新填写。"),
    (r"(统一社会信用代码|公民身份号码) must [^:]*: character (\d+) is the letter (.), which it cannot hold there "
     r"\(the digit (\d)\?\)(?:, or leave it empty .*)?",
     r"\1第 \2 位是字母 \3，该位不能是这个字母（应为数字 \4？），请核对后重新填写。"),
    (r"公民身份号码 must be 17 digits followed by a digit or X: character 18 is .*, which it cannot hold there",
     "公民身份号码第 18 位（校验码）只能是数字或 X，请核对后重新填写。"),
    (r"公民身份号码 must be 17 digits followed by a digit or X: character (\d+) is .*, which it cannot hold there",
     r"公民身份号码第 \1 位不是数字（前 17 位都应是数字），请核对后重新填写。"),
    (r"公民身份号码 must be 17 digits followed by a digit or X",
     "公民身份号码应为 17 位数字加 1 位数字或 X，请核对后重新填写。"),
    (r"公民身份号码 has an invalid birth date", "公民身份号码中的出生日期不存在，请核对后重新填写。"),
    (r"give the code of a published resource", "请填写已发布资源的信息资源代码，如 101001/000001。"),
    (r"must be at most (\d+) characters, got (\d+)",
     r"不能超过 \1 个字（含空格和标点），现为 \2 个字，请删减后重新提交。"),
    (r"must be at most (\d+) characters", r"不能超过 \1 个字，请删减后重新提交。"),
    (r"must not contain (?:the )?NUL characters?", "含有不可见的空字符（NUL），请删去后重新填写。"),
    (r"must not contain control characters", "含有不可见的控制字符，请删去后重新填写。"),
    (r"must not contain control or invisible formatting characters \(U\+([0-9A-F]+) at position (\d+)\).*",
     r"含有不可见的控制或格式字符（U+\1），请按要显示的样子重新输入。"),
    # services.runtime.errors.one_line_violation: an application's 用途说明 (and a query's purpose.text) is one line.
    (r"must be one line of visible text: character (\d+) is U\+([0-9A-F]+) \([^)]*\): write it on one line",
     r"第 \1 个字符是换行或制表符（U+\2）：用途说明请写成一行。"),
    (r"must be one line of visible text: character (\d+) is U\+([0-9A-F]+) .*",
     r"第 \1 个字符（U+\2）看不见（如零宽字符或文字方向控制符），请删去后重新填写。"),
    (r"is empty: name an item by its machine name.*", "信息项不能为空，请勾选需要使用的信息项。"),
    (r"holds no word, only punctuation or symbols.*", "只有标点或符号，请用文字写明。"),
    (r"holds no letter or digit.*", "没有文字或数字，请填写要显示的名称。"),
    (r"unknown value \d+: expected one of .*", "不是可选的值，请从列表中选择。"),
    (r"must not be negative.*", "不能为负数。"),
    (r"must be in the future.*", "必须是今天或以后的日期。"),
    # A reported event's time (a mandate change's change_time): not yet come, or before the platform's records.
    (r"must not be in the future", "不能晚于现在：请在事情发生后填写。"),
    (r"must not be before (\d{4}-\d{2}-\d{2})", r"不能早于 \1。"),
    # An approval's end (applications.narrow), which names the requested end: the refused form shows the date typed.
    # The sentence names what is past: the page's summary line (申请 … 未答复：…) joins the fields' sentences without
    # their labels, and read 未答复：已经过去：请填写…, past what it did not say.
    (r"is already past: choose an end after now, at most the requested (.+)",
     r"所填的有效期截止日期已经过去：请填写今天至 \1（申请的有效期）之间的日期。"),
    (r"is already past.*", "所填的日期已经过去，请填写今天或以后的日期。"),
    # An approval or coordination grant of an application whose own term has ended (applications.narrow): no date
    # can be chosen, a later one being a widening; the way out is to refuse it.
    (r"the requested term has ended \(requested until ([^)]+)\).*",
     r"申请的有效期（至 \1）已过，不能再同意或准予：请选择不予共享并说明理由，使用部门可重新申请。"),
    (r"is later than requested: .*\(requested until ([^)]+)\)",
     r"不能晚于申请的有效期（至 \1）：同意或准予时只能缩短有效期，请填写该日或之前的日期。"),
    (r"is later than requested.*", "不能晚于申请的有效期。"),
    (r"is above the requested (\d+).*", r"不能超过申请的 \1 次。"),
    (r"(.+) is listed twice", r"“\1”重复了，请只填写一次。"),
    # A grant's adjustment naming an item (purpose, method, system) its application did not ask for (grants.py).
    (r"the (item|purpose|share method|system) (\S+) was not requested by application (\S+): .*", _not_requested),
    # A coordinated grant's provider clearing its items (grants.changes): revoking it is the authority's.
    (r"at least one item is required; ask the authority.*",
     "请至少勾选一个信息项。本授权由共享主管部门协调决定，提供部门不能撤销：如需终止，请联系共享主管部门。"),
    (r"at least one (?:data )?item is required.*", "请至少填写（勾选）一个信息项。"),
    (r"(.+) (?:is a basic item|are basic items), which every department gets without a grant \(R-SHR-4\): granting "
     r"only (?:it|them) gives nothing; (?:also grant (.+?), or )?(?:unmask .+? \(unmasked_items\), or )?"
     r"(refuse|revoke the grant|ask the authority to revoke it)", _basic_only),
    # An application for basic items alone that nothing masks (applications._free_items_problems): 申请 said English.
    (r"(.+) (?:is a basic item|are basic items), which every department gets whole without a grant \(R-SHR-4\): .*",
     lambda found: f"{found[1].replace(', ', '、')} 是基础信息项，各部门无需授权即可直接查询（不脱敏），无需申请；"
                   "请只申请业务确需的其他信息项。"),
    # An application's 用途 and 使用方式 (services/authorization/validation.enum_list_problems): checkboxes on 申请使用.
    (r"at least one purpose is required", "请至少勾选一个用途。"),
    (r"at least one share method is required", "请至少勾选一种使用方式。"),
    (r"is not a valid (?:purpose|share method)", "不是可选的值，请从列表中选择。"),
    (r"(.+) is not an item of (?:resource )?.*", r"“\1”不是该资源的信息项。"),
    # An approval or coordination grant of an item a version published since the application dropped
    # (applications.scope_entry_problems): the 答复 and 协调 forms tick every item applied for.
    (r"(\w+) is no longer an item of resource \S+ \(version (\d+)\).*",
     r"信息项 \1 已不在该资源目录（第 \2 版）中，不能再准予：请取消勾选后重新提交。"),
    # An item dropped and added back since the application was made (applications.scope_entry_problems).
    (r"(\w+) was dropped from resource \S+ and added back since the application was made.*",
     r"信息项 \1 在申请提出后曾从该资源目录中删除、后又重新加入（含义可能已不同），不能按此申请准予："
     r"请取消勾选后重新提交，使用部门如仍需要可重新申请。"),
    # An adjustment naming an item dropped and added back since the grant was made (grants.relisted_problems).
    (r"(\w+) was dropped from the catalog and added back after grant \S+ was made.*",
     r"信息项 \1 在授权后曾从该资源目录中删除、后又重新加入（含义可能已不同），本授权已不覆盖，调整授权也不能恢复："
     r"请取消勾选后重新提交，使用部门如仍需要应重新申请。"),
    # A provider's adjustment widening a grant the authority's coordination decision gave
    # (grants.beyond_coordination): the 授权 form's items, unmasking, end and call limit.
    (r".+(?:beyond what| the end| \d+) the authority's coordination decision gave grant \S+: its provider may narrow.*",
     "本授权由共享主管部门协调决定，提供部门只能缩小其范围（信息项、不脱敏、有效期、调用上限等），不能超出协调决定放宽："
     "请改回原值后重新提交；使用部门如需更大范围，应重新申请。"),
    (r"must be lower_snake_case.*", "英文名只能用小写字母、数字和单个下划线，并以字母开头。"),
    (r"(.+) is already used by .*\[(\d+)\]", r"英文名 \1 与另一行重复，请改用不同的英文名。"),
    (r".+ is not the machine name of any item", "查询键须填写下方某个信息项的英文名。"),
    (r"the key item .+ must set identifier.*", "查询键信息项须选择键类型。"),
    (r"a \w+ item needs a length above 0", "此数据类型须填写大于 0 的长度。"),
    (r"is set on the key item only", "键类型只在查询键信息项上选择。"),
    (r"a CONDITIONAL resource must state its share condition", "有条件共享的资源必须填写共享条件。"),
    (r"retiring a published entry ends every grant of it: say why.*",
     "撤销已发布的目录会终止其全部授权，请填写撤销理由（如职能划转至某部门），使用部门将看到该理由。"),
    (r"an UNCONDITIONAL resource is shared with every department without conditions.*",
     "无条件共享的资源向所有部门共享，不设共享条件：请清空共享条件，或将共享类型改为有条件共享。"),
    (r"the resource is not open to the public: clear the open condition.*",
     "该资源不向社会开放，不设开放条件：请清空开放条件，或勾选“向社会开放”。"),
    (r"a NOT_SHARED resource must cite .*", "不予共享的资源必须写明所依据的法律、行政法规或政策。"),
    (r"a \w+ resource must offer at least one share method", "请至少选择一种共享方式。"),
    (r"a CLASSIFIED resource must be in zone INTRANET", "涉密资源只能部署在政务内网。"),
    (r"a CLASSIFIED resource cannot be open to the public", "涉密资源不能向社会开放。"),
    (r"a \w+ resource's subject must be one of (.+)", r"类目须为以下之一：\1。"),
    (r"the 类 digit .*", "代码的首位（类）与所选的信息资源分类不一致。"),
    (r"numbers a part with zeros only: (.+)", _zero_parts),
    (r"the 项 (\d+) does not stand for the subject (.+?): a \w+ resource's 项 is one of (.+), so .+ is (\d+)",
     r"信息资源代码的项“\1”与类目“\2”不符：该分类的项按类目编号，须为 \3 之一，“\2”为 \4。"),
    (r"must be letters, digits, '_', '\.' or '-'", "只能包含字母、数字、“_”、“.”或“-”。"),
    (r"must be a gRPC target .*", "请填写 host:port 形式的地址（不含空格）；留空表示平台基础库。"),
    (r"an entry cannot be related to itself", "不能关联目录自身。"),
    (r"at most (\d+) related codes", r"关联资源代码最多 \1 个。"),
    # services.catalog.search.parse_query: 目录's 关键词.
    (r"holds no word to find: .*", "关键词只有标点、空格或看不见的字符，查不到任何资源：请输入要查找的字词。"),
    (r"at most (\d+) words", r"关键词最多 \1 个词（以空格或标点分隔），请删减后重新查询。"),
    (r"at most (\d+) data items", r"信息项最多 \1 个。"),
    # services/catalog/rules.py: a name with a Kangxi radical or a compatibility ideograph (⼈ for 人), two items
    # whose names read alike, a masking rule the platform does not configure.
    (r"U\+([0-9A-F]+) at position \d+ is a radical or compatibility form drawn like (\S) \(U\+[0-9A-F]+\): write \S",
     r"含有外形像“\2”的部首或兼容字符（U+\1），它不是“\2”：请用输入法重新输入“\2”。"),
    (r"reads as the name of \S+\.items\[\d+\]: .*",
     "与另一个信息项的名称相同或看起来相同（仅空格、全角半角或大小写不同），申请和审批按名称勾选信息项，"
     "请为每个信息项取不同的名称。"),
    (r"unknown masking rule '(.*)'", r"脱敏规则“\1”不是平台配置的规则，请核对后重新填写。"),
    (r"masks a sensitive item only: .*",
     "脱敏规则只用于敏感项：该项未勾选“敏感”，其值将不脱敏、完整提供给使用部门。请勾选“敏感”，或清空脱敏规则。"),
    (r"the resource is not shared by this method", "该资源不提供这种共享方式。"),
    (r"resource \S+ is not shared by SHARE_METHOD_\w+ \(it offers .+\)", "该资源不提供这种共享方式。"),
    (r"must be at least (\d+) characters", r"不能少于 \1 个字符。"),
    # services/supervision: a period or a report's department (the 监督 page's links, a typed address).
    (r"must be between (\d+) and (\d+)", r"须在 \1 至 \2 之间。"),
    (r"the year has not begun", "该年尚未开始，还没有数据。"),
    (r"the month has not begun", "该月尚未开始，还没有数据。"),
    (r"name the provider department", "请指明部门（月度使用情况反馈是一个提供部门的反馈）。"),
    (r"must use at least (\d+) different characters.*",
     r"至少要用 \1 个不同的字符，不能是重复的字符或规律（如 aaaaaaaaaaaa）。"),
    (r"must not contain the username.*", "不能包含用户名。"),
    (r"must not be a common password.*",
     "不能是常见密码，也不能是键盘、字母或数字的连续序列（前后加上数字或符号也一样，如 Admin@123456、P@ssw0rd2026、"
     "qwertyuiop12）：最先被猜到，请换用几个无关的词语组成的口令。"),
    (r"must differ from the current password", "新密码不能与当前密码相同。"),
    (r"must hold only characters a sign-in form can type: character (\d+) is U\+([0-9A-F]+) .*",
     r"第 \1 个字符（U+\2）是换行、制表符或零宽空格等登录时输入不了的字符（多来自文件或复制的文档），"
     "请删去后重新设置。"),
    (r"must be 3-64 characters of a-z 0-9 .*", "用户名须为 3-64 位小写字母、数字或“. _ -”，以字母或数字开头。"),
    (r"REVIEWER and ADMINISTRATOR are the authority's roles only", "审核员、管理员只能是共享主管部门的人员。"),
    (r"must contain only printable characters: character (\d+) is U\+([0-9A-F]+) \([^)]*\): write an ordinary space.*",
     r"第 \1 个字符是特殊空格（U+\2，如全角空格），请改为普通空格或删去。"),
    (r"must contain only printable characters: character (\d+) is U\+([0-9A-F]+) \(a private-use character.*",
     r"第 \1 个字符（U+\2）是私用区的自造字，其他系统会显示成别的字或方框：请改用该字的标准 Unicode 编码"
     "（生僻字在扩展 B 区及以后各区；GB 18030-2022 已为原私用区的字给出标准编码），不要删去。"),
    (r"must contain only printable characters: character (\d+) is U\+([0-9A-F]+) .*",
     r"第 \1 个字符（U+\2）不可打印（如换行、制表符或零宽字符），请删去后重新填写。"),
    (r"must contain only printable characters", "含有不可打印的字符，请删去后重新填写。"),
    # Free text holding a direction override, a zero-width or a control character (services/runtime/errors.
    # hidden_formatting): a 摘要, 共享条件, 理由 or 证据 pasted from a web page or a document.
    (r"must not contain invisible formatting or control characters: character (\d+) is U\+([0-9A-F]+) .*",
     r"第 \1 个字符（U+\2）是看不见的格式字符或控制字符（如从右到左改写符、零宽空格，多来自复制的网页或文档），"
     "会使显示的文字与保存的不同：请删去后重新填写。"),
    # A line of free text or a key holding what nobody sees in it (services/runtime/errors.invisible_character,
    # services/query/keys): a 证据 or 正确的值 pasted with a line break, a 公民身份号码 pasted in groups or with a
    # zero-width space from a web page. The person read the service's English after 此项不符合要求.
    (r"character (\d+) is U\+([0-9A-F]+) \([^)]*\): write it on one line",
     r"第 \1 个字符是换行符或制表符（U+\2）：此项须写在一行内，请删去后重新填写。"),
    (r"character (\d+) is U\+([0-9A-F]+) \([^)]*\): remove it",
     r"第 \1 个字符（U+\2）是看不见的字符（如零宽空格，多来自复制的网页或文档）：请删去后重新填写。"),
    (r"holds a space after its first (\d+) characters: give the code without spaces, (\d+) characters in one piece",
     r"第 \1 位之后有空格：请去掉空格，将 \2 位连续填写。"),
    (r"holds an invisible character, U\+([0-9A-F]+), at position (\d+) .*: type the key again",
     lambda found: f"第 {int(found[2]) + 1} 个字符处有看不见的字符（U+{found[1]}，多来自复制的网页或文档）："
                   "请重新输入。"),
    (r"must be a 信息资源代码 like .*: it is written in full-width characters .*",
     "信息资源代码须用半角数字和“/”填写，如 101001/000001。"),
    (r"must be a 信息资源代码 like .*", "须为信息资源代码，如 101001/000001。"),
    (r"must be the classification \(.*\), '/', and a 6-digit sequence, e\.g\. 101001/000001",
     "须为信息资源代码（类 1 位、项 2 位、目 3 位、可选细目 3 位，加“/”和 6 位顺序号），如 101001/000001。"),
    # An id that cannot be one (services/authorization/validation.malformed_id): typed, or a link cut short.
    (r"['\"](.*)['\"] is not a well-formed [\w ]+ id: after '(.+?)' come (\d+(?: to \d+)?) lower-case "
     r"(hex digits|letters and digits)(.*)",
     _id_sentence),
    (r"['\"](.*)['\"] is not a well-formed [\w ]+ id: pass the id the platform returned \(it begins '(.+)'\)",
     r"“\1”不是平台给出的编号（编号以 \2 开头）：请从列表中打开，或核对后重新填写。"),
    (r"(统一社会信用代码|公民身份号码) must have 18 characters, got (\d+): it was written as a number in scientific .*",
     r"\1被写成了科学计数法（电子表格把 18 位数字当作数值）：请把该列设为文本后重新导出。"),
    (r"(统一社会信用代码|公民身份号码) must have 18 characters, got 19: remove the (.) before it.*",
     r"\1前面多了一个 \2（电子表格的文本标记），请删去。"),
    (r"公民身份号码 must have 18 characters, got 15: a first-generation .*",
     "这是 15 位的第一代公民身份号码，请填写其 18 位号码。"),
    (r"(统一社会信用代码|公民身份号码) must have 18 characters, got (\d+)(?:, or leave it empty .*)?",
     r"\1应为 18 位，现为 \2 位，请核对后重新填写。"),
    (r"(统一社会信用代码|公民身份号码) has an invalid check character: it ends in 000, as a spreadsheet .*",
     r"\1的校验位不正确，且末尾为 000：电子表格把 18 位代码当作数值时只保留前 15 位、其余写成 0，"
     "请把该列设为文本后从源数据重新导出。"),
    (r"(统一社会信用代码|公民身份号码) has an invalid check character(?:, or leave it empty .*)?",
     r"\1的校验位不正确，请核对后重新填写。"),
    (r"统一社会信用代码 must have digits at characters 3 to 8 \(the registering authority's region code\): "
     r"character (\d+) is .*, which it cannot hold there(?: \(the digit (\d)\?\))?(?:, or leave it empty .*)?",
     lambda found: f"统一社会信用代码第 3 至 8 位是登记管理机关的行政区划码，应为数字：第 {found[1]} 位不是数字"
                   + (f"（应为 {found[2]}？）" if found[2] else "") + "，请核对后重新填写。"),
    (r"统一社会信用代码 must use the characters 0-9 and ABCDEFGHJKLMNPQRTUWXY: character (\d+) is .*, which it "
     r"cannot hold there(?:, or leave it empty .*)?",
     r"统一社会信用代码第 \1 位不是数字或可用的大写字母（代码不含 I、O、S、V、Z），请核对后重新填写。"),
    (r"统一社会信用代码 must use the characters 0-9 and ABCDEFGHJKLMNPQRTUWXY(?:, or leave it empty .*)?",
     "统一社会信用代码只能由数字和大写字母（不含 I、O、S、V、Z）组成，请核对后重新填写。"),
    (r"an ADMINISTRATOR holds no deciding role.*", "管理员不能同时担任编目员、审批人、申请人或审核员（职责分离）。"),
    (r"say why the binding is reset: is required", "请填写解除绑定的原因（记入管理操作日志）。"),
    (r"say why the binding is reset: must be at most (\d+) characters", r"原因不能超过 \1 个字，请删减后重新提交。"),
    (r"an administrator cannot reset their own IdP binding.*",
     "管理员不能解除自己的统一身份认证绑定，请由另一位管理员操作。"),
    (r"an administrator cannot reset their own password.*",
     "管理员不能重置自己的密码：请在“修改密码”中修改（需输入当前密码和动态口令）；忘记密码请由另一位管理员重置。"),
    (r"an administrator cannot reset their own TOTP secret.*",
     "管理员不能重置自己的动态口令，请由另一位管理员操作。"),
    (r"an administrator cannot disable themselves", "管理员不能停用自己的账号，请由另一位管理员操作。"),
    (r"an administrator cannot remove their own ADMINISTRATOR role.*",
     "管理员不能取消自己的管理员角色，请由另一位管理员操作。"),
))


#: The field a service's violation names when it is of the request as a whole (services.runtime.errors).
WHOLE_REQUEST = "request"


def field_sentence(description: str) -> str:
    """A service's field violation as the person is told it beside the field: in Chinese, the service's own words
    kept after it only when no sentence of the console matches (they name what to fix, better than nothing)."""
    text = description.strip()
    for pattern, sentence in _FIELD_SENTENCES:
        if pattern.fullmatch(text):
            return pattern.sub(sentence, text)
    return f"此项不符合要求，请修改后重新提交（平台说明：{text}）。" if text else "此项不符合要求，请修改后重新提交。"


@dataclass
class Problem:
    """A refused action: one sentence for the page and, for bad input, a message per form field."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)
    code: grpc.StatusCode | None = None
    reason: str = ""


def department_refused(error: grpc.RpcError) -> str:
    """The department whose matter a NOT_YOUR_DEPARTMENT refusal says it is ("" for any other refusal): its name
    is looked up before the refusal is said (problem_of), as a person reads departments by name."""
    info, _ = details_of(error)
    if info is None or info.reason != "NOT_YOUR_DEPARTMENT":
        return ""
    return info.metadata.get("department_code", "")


def problem_of(error: grpc.RpcError, department_names: Mapping[str, str] | None = None,
               reading: bool = False) -> Problem:
    """The Problem a failed gRPC call describes (the service's own words kept after the Chinese sentence);
    ``department_names``: the name of the department a refusal names (department_refused), when found;
    ``reading``: the call only read (reads()), so a platform that did not answer left data unshown, not an
    operation unfinished."""
    code = error.code()  # type: ignore[attr-defined]
    info, bad = details_of(error)
    said = _READ_SENTENCES if reading and not SENDING.get() else _SENTENCES
    sentence = said.get(code) or _SENTENCES.get(code, "操作未完成，请稍后重试")
    detail = (error.details() or "").strip()  # type: ignore[attr-defined]
    fields = {v.field: field_sentence(v.description) for v in bad.field_violations} if bad is not None else {}
    reason = info.reason if info else ""
    if code == grpc.StatusCode.PERMISSION_DENIED and (denied := denied_sentence(
            reason, info.metadata if info else {}, detail, department_names)) is not None:
        message = denied
    elif reason == "INVALID_STATE" and (state := entry_state_sentence(info.metadata if info else {})) is not None:
        message = state
    elif reason == "ETAG_MISMATCH" and (changed := entry_changed_sentence(info.metadata if info else {})) is not None:
        message = changed
    elif (retired := retirement_sentence(reason, info.metadata if info else {})) is not None:
        message = retired
    elif reason == "NAME_CHANGED" and info is not None:
        message = (f"未更名：您打开本页后，该部门已由他人更名为“{info.metadata.get('name', '')}”。请核对现名称，"
                   "仍需更名的请再次提交")
    elif reason in SAID_WHOLE:
        message = f"{REASON_SENTENCES[reason]}{_application_named(detail)}。"
    elif reason in REASON_SENTENCES:
        sentence = REASON_SENTENCES[reason]
        message = f"{sentence}：{detail}" if detail else sentence
    elif code == grpc.StatusCode.UNAVAILABLE and reason in DEPARTMENT_UNAVAILABLE:
        sentence = DEPARTMENT_UNAVAILABLE[reason]
        message = f"{sentence}：{detail}" if detail else sentence
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL):
        message = sentence  # the cause is the platform's, not something the person can fix
    elif code == grpc.StatusCode.INVALID_ARGUMENT and any(f.endswith("page_token") for f in fields):
        message = PAGE_TOKEN_REFUSED  # no field to fix on the page: the link itself is stale or from another list
    elif code == grpc.StatusCode.INVALID_ARGUMENT and WHOLE_REQUEST in fields:
        # A violation of the request as a whole has no input on any page to be shown beside: the page said
        # "请按字段旁的提示修改后重新提交" and no field had a hint.
        message = fields[WHOLE_REQUEST]
    elif code == grpc.StatusCode.INVALID_ARGUMENT and fields:
        message = sentence
    elif code == grpc.StatusCode.ALREADY_EXISTS and (exists := exists_sentence(detail)) is not None:
        message = exists
    elif code == grpc.StatusCode.NOT_FOUND and detail:
        message = f"{sentence}：{not_found_text(detail)}"
    else:
        message = f"{sentence}：{detail}" if detail else sentence
    return Problem(message=message, fields=fields, code=code, reason=reason)
