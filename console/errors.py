"""What a failed call means to the person in front of the console, in Chinese, and which fields to fix.

The services already say what is wrong (google.rpc.BadRequest names each field); this maps the status code to a
sentence that tells the person what to do and keeps each field violation beside its field on the form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

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

#: UNAVAILABLE whose cause is a department's system, not the platform (ErrorInfo.reason): what the person can
#: do about it, instead of "the platform is temporarily unavailable, retry later".
DEPARTMENT_UNAVAILABLE = {
    "ENDPOINT_UNAVAILABLE": "提供部门的前置机接口无法连接，目录未发布：请联系提供部门确认前置机已启动、接口地址无误，"
                            "或将目录退回请其修改接口地址",
}

#: A page token the service refused (garbage, forged, expired or from another list): what the person can do.
PAGE_TOKEN_REFUSED = "分页链接无效或已过期（可能来自另一个列表），请回到列表第一页重新浏览。"


@dataclass
class Problem:
    """A refused action: one sentence for the page and, for bad input, a message per form field."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)
    code: grpc.StatusCode | None = None
    reason: str = ""


def problem_of(error: grpc.RpcError) -> Problem:
    """The Problem a failed gRPC call describes (the service's own words kept after the Chinese sentence)."""
    code = error.code()  # type: ignore[attr-defined]
    info, bad = details_of(error)
    sentence = _SENTENCES.get(code, "操作未完成，请稍后重试")
    detail = (error.details() or "").strip()  # type: ignore[attr-defined]
    fields = {v.field: v.description for v in bad.field_violations} if bad is not None else {}
    reason = info.reason if info else ""
    if code == grpc.StatusCode.UNAVAILABLE and reason in DEPARTMENT_UNAVAILABLE:
        sentence = DEPARTMENT_UNAVAILABLE[reason]
        message = f"{sentence}：{detail}" if detail else sentence
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL):
        message = sentence  # the cause is the platform's, not something the person can fix
    elif code == grpc.StatusCode.INVALID_ARGUMENT and any(f.endswith("page_token") for f in fields):
        message = PAGE_TOKEN_REFUSED  # no field to fix on the page: the link itself is stale or from another list
    elif code == grpc.StatusCode.INVALID_ARGUMENT and fields:
        message = sentence
    else:
        message = f"{sentence}：{detail}" if detail else sentence
    return Problem(message=message, fields=fields, code=code, reason=reason)
