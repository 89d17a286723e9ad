"""Chinese names of the protocol's enums and of R-CAT-1's fields, as the national cataloguing guide names them."""

from __future__ import annotations

from govshare.authorization.v1 import directory_pb2, sharing_pb2
from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from govshare.query.v1 import audit_pb2, dispute_pb2
from services.supervision.reports import RESULTS

CATEGORY = {catalog_pb2.CATEGORY_FOUNDATION: "基础", catalog_pb2.CATEGORY_THEME: "主题",
            catalog_pb2.CATEGORY_DEPARTMENT: "部门"}
SHARE_TYPE = {common_pb2.SHARE_TYPE_UNCONDITIONAL: "无条件共享", common_pb2.SHARE_TYPE_CONDITIONAL: "有条件共享",
              common_pb2.SHARE_TYPE_NOT_SHARED: "不予共享"}
SHARE_METHOD = {common_pb2.SHARE_METHOD_ONLINE_QUERY: "联机查询",
                common_pb2.SHARE_METHOD_SYSTEM_INTEGRATION: "系统对接",
                common_pb2.SHARE_METHOD_FRONT_END_EXCHANGE: "前置机共享",
                common_pb2.SHARE_METHOD_BATCH_DOWNLOAD: "部门批量下载"}
PURPOSE = {common_pb2.PURPOSE_TYPE_ADMINISTRATIVE_BASIS: "行政依据", common_pb2.PURPOSE_TYPE_WORK_REFERENCE: "工作参考",
           common_pb2.PURPOSE_TYPE_DATA_VERIFICATION: "数据校核",
           common_pb2.PURPOSE_TYPE_BUSINESS_COLLABORATION: "业务协同"}
FORMAT_CLASS = {catalog_pb2.FORMAT_CLASS_ELECTRONIC_FILE: "电子文件", catalog_pb2.FORMAT_CLASS_SPREADSHEET: "电子表格",
                catalog_pb2.FORMAT_CLASS_DATABASE: "数据库", catalog_pb2.FORMAT_CLASS_GRAPHIC_IMAGE: "图形图像",
                catalog_pb2.FORMAT_CLASS_STREAMING_MEDIA: "流媒体",
                catalog_pb2.FORMAT_CLASS_SELF_DESCRIBING: "自描述格式",
                catalog_pb2.FORMAT_CLASS_OTHER: "其他"}
DATA_TYPE = {catalog_pb2.DATA_TYPE_CHARACTER: "字符型C", catalog_pb2.DATA_TYPE_NUMERIC: "数值型N",
             catalog_pb2.DATA_TYPE_CURRENCY: "货币型Y", catalog_pb2.DATA_TYPE_DATE: "日期型D",
             catalog_pb2.DATA_TYPE_DATETIME: "日期时间型T", catalog_pb2.DATA_TYPE_LOGICAL: "逻辑型L",
             catalog_pb2.DATA_TYPE_MEMO: "备注型M", catalog_pb2.DATA_TYPE_GENERAL: "通用型G",
             catalog_pb2.DATA_TYPE_DOUBLE: "双精度型B", catalog_pb2.DATA_TYPE_INTEGER: "整型I",
             catalog_pb2.DATA_TYPE_FLOAT: "浮点型F"}
#: A key item's kind (catalog.proto IdentifierKind), as the entry form's 键类型 names it.
IDENTIFIER_KIND = {catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID: "公民身份号码",
                   catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE: "统一社会信用代码",
                   catalog_pb2.IDENTIFIER_KIND_REGION_CODE: "行政区划代码", catalog_pb2.IDENTIFIER_KIND_TEXT: "文本"}
UPDATE_CYCLE = {catalog_pb2.UPDATE_CYCLE_REALTIME: "实时", catalog_pb2.UPDATE_CYCLE_DAILY: "每日",
                catalog_pb2.UPDATE_CYCLE_WEEKLY: "每周", catalog_pb2.UPDATE_CYCLE_MONTHLY: "每月",
                catalog_pb2.UPDATE_CYCLE_QUARTERLY: "每季度", catalog_pb2.UPDATE_CYCLE_HALF_YEARLY: "每半年",
                catalog_pb2.UPDATE_CYCLE_YEARLY: "每年", catalog_pb2.UPDATE_CYCLE_IRREGULAR: "不定期"}
ZONE = {common_pb2.ZONE_EXTRANET: "政务外网", common_pb2.ZONE_INTRANET: "政务内网"}
SECRECY = {catalog_pb2.SECRECY_NON_CLASSIFIED: "非涉密", catalog_pb2.SECRECY_CLASSIFIED: "涉密"}
ENTRY_STATE = {catalog_pb2.ENTRY_STATE_DRAFT: "草稿", catalog_pb2.ENTRY_STATE_SUBMITTED: "待审核",
               catalog_pb2.ENTRY_STATE_PUBLISHED: "已发布", catalog_pb2.ENTRY_STATE_RETURNED: "已退回",
               catalog_pb2.ENTRY_STATE_RETIRED: "已撤销", catalog_pb2.ENTRY_STATE_SUPERSEDED: "已被新版本取代"}
APPLICATION_STATE = {
    sharing_pb2.APPLICATION_STATE_SUBMITTED: "待答复", sharing_pb2.APPLICATION_STATE_APPROVED: "已同意",
    sharing_pb2.APPLICATION_STATE_REFUSED: "答复不予共享", sharing_pb2.APPLICATION_STATE_ESCALATED: "已提请协调",
    sharing_pb2.APPLICATION_STATE_COORDINATED_GRANTED: "协调后准予共享",
    sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED: "协调后不予共享",
    sharing_pb2.APPLICATION_STATE_WITHDRAWN: "已撤回",
    # Its resource was retired before anyone decided it (services/authorization/sharing.py _close).
    sharing_pb2.APPLICATION_STATE_CLOSED: "已终止（资源目录已撤销）"}
GRANT_STATE = {sharing_pb2.GRANT_STATE_ACTIVE: "有效", sharing_pb2.GRANT_STATE_REVOKED: "已撤销",
               sharing_pb2.GRANT_STATE_EXPIRED: "已过期", sharing_pb2.GRANT_STATE_ENDED: "已终止"}
DISPUTE_STATE = {dispute_pb2.DISPUTE_STATE_OPEN: "待校核", dispute_pb2.DISPUTE_STATE_CORRECTED: "已更正",
                 dispute_pb2.DISPUTE_STATE_CONFIRMED: "经校核无误"}
LEVEL = {directory_pb2.ADMINISTRATIVE_LEVEL_NATIONAL: "国家级", directory_pb2.ADMINISTRATIVE_LEVEL_PROVINCIAL: "省级",
         directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL: "市级", directory_pb2.ADMINISTRATIVE_LEVEL_COUNTY: "县级"}
ROLE = {"DATA_OFFICER": "编目员", "APPROVER": "审批人", "APPLICANT": "申请人", "REVIEWER": "审核员",
        "AUDITOR": "审计员", "ADMINISTRATOR": "管理员"}
#: An access's result (audit.proto AccessResult) in the words of supervision's monthly feedback (其中已应答, 库无,
#: 拒绝, 无效请求, 失败), which the provider reads beside this page; 答复 is the rules' word for an application's reply.
ACCESS_RESULT = {number: RESULTS[name.removeprefix("ACCESS_RESULT_")]
                 for name, number in audit_pb2.AccessResult.items() if number}
#: Why an access was refused (AccessRecord.deny_reason, common.proto DenyReason), as the 审计 page says it beside
#: 拒绝: the 审计员 tracing a leaked credential tells the attempts of its revoked tokens from ordinary refusals.
DENY_REASON = {
    common_pb2.DENY_REASON_NOT_GRANTED: "未获授权",
    common_pb2.DENY_REASON_PURPOSE_NOT_GRANTED: "用途不在授权范围内",
    common_pb2.DENY_REASON_ITEM_NOT_GRANTED: "信息项不在授权范围内",
    common_pb2.DENY_REASON_EXPIRED: "授权已到期",
    common_pb2.DENY_REASON_QUOTA_EXHAUSTED: "调用次数已达上限",
    common_pb2.DENY_REASON_NOT_SHARED: "资源不予共享",
    common_pb2.DENY_REASON_WRONG_ZONE: "资源不在本网络",
    common_pb2.DENY_REASON_METHOD_NOT_GRANTED: "共享方式不在授权范围内",
    common_pb2.DENY_REASON_REVOKED: "授权已撤销",
    common_pb2.DENY_REASON_NOT_PUBLISHED: "资源目录未发布或已撤销",
    common_pb2.DENY_REASON_SYSTEM_NOT_GRANTED: "该业务系统不在授权范围内",
    common_pb2.DENY_REASON_CREDENTIALS_REVOKED: "令牌已失效：业务系统已停用或密钥已重置",
    common_pb2.DENY_REASON_SYSTEM_REQUIRED: "须由业务系统调用，人员登录不能查询",
    common_pb2.DENY_REASON_GRANT_LAPSED: "授权已失效：所授信息项均经目录变更后重新增加",
}
#: Why an access was refused when DenyReason has no value for it (ListAccesses gives it as failure_reason).
DENIED_OTHER = {"NOT_A_SUBJECT_ACCESS_PORTAL": "非经授权的个人查询门户：该业务系统无权查询个人被访问记录"}
#: AccessResult NOT_FOUND, and what its failure_reason says was not found when it was no record.
NOT_FOUND_RESULT = 2
#: AccessResult DENIED: said with its deny_reason.
DENIED_RESULT = 3
NOT_FOUND = {"RESOURCE_NOT_FOUND": "资源不存在"}
#: The 审计 page's 资源使用统计 columns: UsageRow's count of each outcome, named as the listing names the outcome.
USAGE_OUTCOMES = {field: ACCESS_RESULT[number] for field, number in (
    ("answered", 1), ("denied", 3), ("not_found", 2), ("invalid", 4), ("failed", 5))}
#: AccessResult ANSWERED (an export's: admitted, and whole once its closing record says so).
ANSWERED_RESULT = 1
#: Why an export stopped on the way (its closing record's failure_reason), as the 审计 page says it.
EXPORT_STOPPED = {"CANCELLED": "调用方取消或超时", "PROVIDER_UNAVAILABLE": "提供部门前置机未应答",
                  "RECORD_UNREADABLE": "提供部门数据库无法读出记录", "FOUNDATION_UNAVAILABLE": "平台基础库服务未应答",
                  "INTERNAL": "平台内部错误",
                  # Its process stalled past its lease, another closed it interrupted (services/query/servicer.py).
                  "LEASE_LAPSED": "平台服务进程停顿过久，下载已由其他进程记为中断"}

#: An export's closing record written by another query process, the one serving it having stopped without one
#: (services/query/interruptions.py): how many rows had left is not known.
EXPORT_INTERRUPTED = "INTERRUPTED"

#: R-CAT-1 field names as the guide writes them, keyed by the proto field (server violations name these).
ENTRY_FIELDS = {
    "code": "信息资源代码", "name": "信息资源名称", "summary": "信息资源摘要", "category": "信息资源分类",
    "subject": "类目（主题/基础库）", "provider_department_code": "提供方代码", "format_class": "信息资源格式分类",
    "format_type": "信息资源格式类型", "items": "信息项", "key_item": "查询键信息项", "share_type": "共享类型",
    "share_condition": "共享条件", "share_methods": "共享方式", "legal_basis": "不予共享依据",
    "open_to_public": "是否向社会开放", "open_condition": "开放条件", "update_cycle": "更新周期",
    "related_codes": "关联资源代码", "zone": "网络区域", "secrecy": "涉密属性", "endpoint": "提供端点",
    "project_code": "项目代码",
}

#: The audit trail's operations (services/query: one record per call of these RPCs).
OPERATION = {"Query": "查询", "BatchQuery": "批量查询", "Verify": "核验", "Export": "批量下载",
             # A portal's lookup of whose accesses a person's record had (ListSubjectAccesses), on the authority's
             # 审计员's page: it was shown as the English "SubjectLookup".
             "SubjectLookup": "个人被访问记录查询"}

#: The steps of an application's history (sharing.proto ApplicationEvent.action).
APPLICATION_EVENT = {"SUBMITTED": "提交共享申请", "APPROVED": "同意共享申请", "REFUSED": "答复不予共享",
                     "ESCALATED": "提请协调", "COORDINATED_GRANTED": "协调后准予共享",
                     "COORDINATED_REFUSED": "协调后不予共享", "GRANT_UPDATED": "调整授权", "GRANT_REVOKED": "撤销授权",
                     "WITHDRAWN": "撤回申请", "CLOSED": "因资源目录撤销终止申请",
                     # A confidentiality mark's step (SetGrantConfidentiality): shown as the bare code before.
                     "GRANT_CONFIDENTIALITY": "设置授权保密期"}

#: The administrative log's actions, as the services record them (``<service>.<action>``). An action missing here
#: is shown by its code: the log is the evidence, so nothing in it is ever hidden behind a label.
ADMIN_ACTION = {
    # an application's steps go to the log as sharing.<step> (services/authorization/sharing.py)
    **{f"sharing.{step.lower()}": label for step, label in APPLICATION_EVENT.items()},
    "catalog.create": "新建目录", "catalog.update": "修改目录", "catalog.submit": "提交审核",
    "catalog.publish": "审核通过并发布", "catalog.return": "退回修改", "catalog.retire": "撤销目录",
    "sharing.grant_confidentiality": "设置授权保密期",
    "directory.bootstrap_authority": "初始化主管部门", "directory.create_department": "新建部门",
    "directory.rename_department": "部门更名", "directory.retire_department": "撤销部门",
    "directory.create_system": "新建业务系统", "directory.disable_system": "停用业务系统",
    "directory.enable_system": "启用业务系统", "directory.rotate_system_secret": "更换业务系统密钥",
    "roles.grant_system_role": "授予业务系统角色", "roles.revoke_system_role": "收回业务系统角色",
    "token.issue": "签发令牌", "bundle.import": "导入外网同步包", "bundle.export": "导出外网同步包",
    "catalog.report_mandate_change": "报告职能调整",
    "person.create": "新建人员", "person.set_roles": "调整人员角色", "person.disable": "停用人员",
    "person.enable": "启用人员", "person.reset_password": "重置密码", "person.reset_totp": "重置动态口令",
    "person.unlock": "解除锁定", "person.reset_idp_binding": "解除统一身份认证绑定",
    "session.sign_in": "登录", "session.sign_out": "退出登录", "session.change_password": "修改密码",
    "session.enrol_totp": "绑定身份验证器", "session.lock": "账户锁定",
    # Too many failed sign-ins from one network address, across accounts (person_store.record_address_failure).
    "session.address_lock": "网络地址登录锁定",
    "foundation.register_source": "登记数据来源", "foundation.designate_source": "指定权威来源",
    "foundation.retire_source": "停用数据来源",
    "foundation.designate_item_source": "指定信息项权威来源", "foundation.load_records": "装载数据",
    "foundation.resolve_conflict": "处理数据冲突", "foundation.read_history": "查阅记录历史",
    "dispute.report": "报告疑义数据", "dispute.corrected": "疑义校核：已更正", "dispute.confirmed": "疑义校核：无误",
    "dispute.read": "查阅疑义数据", "audit.usage_summary": "查阅资源使用统计",
    # Reads of the logs and of persons, logged when refused (and ListAccesses always): an auditor tracing who
    # looked at the trail read their code, e.g. audit.list_accesses on every 审计 page.
    "audit.list_accesses": "查阅资源使用记录", "audit.verification.read": "查阅审计日志校验结果",
    "audit.export_checkpoints": "导出审计日志检查点", "admin_log.list": "查阅管理操作日志",
    "admin_log.verify": "校验管理操作日志", "admin_log.export_checkpoints": "导出管理操作日志检查点",
    "person.list": "查阅人员列表", "person.read": "查阅人员信息", "foundation.list_conflicts": "查阅数据冲突",
    "query.notify_records_changed": "前置机通知数据变更",
    "audit.verification.start": "发起审计日志校验", "audit.verification.cancel": "取消审计日志校验",
    "audit.verify_chain": "校验审计日志（一页）",
    "supervision.update_weights": "调整评价指标权重", "supervision.compute_snapshots": "计算月度监督快照",
}
#: The administrative log's results (an action that failed is logged too: a failed sign-in, with its reason).
ADMIN_RESULT = {"OK": "成功", "BAD_PASSWORD": "失败：密码错误", "BAD_TOTP": "失败：动态口令错误",
                "REFUSED": "失败：已拒绝", "ACCOUNT_DISABLED": "失败：账号已停用", "ACCOUNT_LOCKED": "失败：账号已锁定",
                # A token refused to an existing system (directory.issue_token): a wrong secret (the old one
                # after RotateSystemSecret, a leaked one tried again), or a system DisableSystem disabled.
                "BAD_SECRET": "失败：密钥错误（或已重置）", "SYSTEM_DISABLED": "失败：业务系统已停用",
                # session.lock: the failed sign-in that locked the account (person_store.record_failure).
                "LOCKED": "账号已锁定",
                # session.address_lock: the failed sign-in that locked its network address.
                "ADDRESS_LOCKED": "网络地址已锁定（登录失败过多）",
                # A token or a sign-in of a retired department's system or person (RetireDepartment).
                "DEPARTMENT_RETIRED": "失败：部门已撤销",
                # A token or a sign-in refused because the secret, password or TOTP it was checked with was
                # replaced meanwhile (services/authorization: directory.issue_token, sessions.sign_in).
                "SECRET_ROTATED": "失败：密钥已在签发期间轮换",
                # A system's own RotateSystemSecret with a token its disable or an earlier rotation ended, or a
                # CreateSystem / RotateSystemSecret with an administrator's token ended by their sign-out, a reset or
                # a disable (services/authorization/directory.py): someone holding a leaked token.
                "CREDENTIALS_REVOKED": "失败：令牌已失效（业务系统已停用或密钥已重置）",
                "CREDENTIALS_CHANGED": "失败：密码或动态口令已在登录期间重置",
                # A right TOTP code typed again (sessions.Sessions._refuse_code): refused, not counted.
                "TOTP_REUSED": "失败：动态口令已使用过（不计入锁定）",
                # A right code older than the last one accepted (sessions.Sessions._refuse_code): not counted.
                "TOTP_SUPERSEDED": "失败：动态口令早于已接受的口令（不计入锁定）",
                # An OIDC ID token that already signed in, presented again (services/authorization/sessions.py).
                "OIDC_TOKEN_REPLAYED": "失败：统一身份认证凭据重复使用",
                # An IdP sign-in naming a person who has a platform password (services/authorization/sessions.py).
                "LOCAL_ACCOUNT": "失败：本地账号不能经统一身份认证登录",
                # An IdP sign-in from another IdP account (iss, sub) than the person's (sessions.py, migration 015).
                "OIDC_SUBJECT_MISMATCH": "失败：统一身份认证账号与绑定账号不一致",
                # services/foundation: a refused load, a refused read of a record's history.
                "NOT_A_SOURCE": "失败：非登记的数据来源", "NO_AUTHORITATIVE_SOURCE": "失败：未指定权威来源",
                "NOT_AUTHORITATIVE_SOURCE": "失败：非权威来源",
                # A person whose roles do not allow the action (services/runtime/duties.py), e.g. a history read.
                "ROLE_REQUIRED": "失败：角色无此权限",
                # services/authorization/sharing.py: a reply or a grant change refused (who tried is the actor).
                "PERSON_REQUIRED": "失败：须由人员决定", "NOT_YOUR_DEPARTMENT": "失败：非本部门事项",
                "NOT_PROVIDER": "失败：非提供部门", "OWN_APPLICATION": "失败：不得答复本部门申请",
                "OWN_SUBMISSION": "失败：不得审核本人提交的目录", "OWN_ESCALATION": "失败：不得协调本人提出的申请",
                "AUTHORITY_ONLY": "失败：仅限共享主管部门", "NOT_INVOLVED": "失败：非相关部门",
                # services/authorization: a change of persons or systems refused to a non-administrator.
                "ADMINISTRATOR_ONLY": "失败：仅限管理员", "NOT_APPLICANT": "失败：非该申请的使用部门",
                # A sign-in with the right password and no code (services/authorization/sessions.py: not counted
                # toward the lock): the password is known, which the 审计员 tracing a leaked one looks for.
                "TOTP_REQUIRED": "失败：密码正确，未填写动态口令（不计入锁定）",
                # session.enrol_totp refused with the right password: the person has an authenticator already (who
                # knows the password alone does not replace it; logged as a stolen password's use).
                "TOTP_ENROLLED": "失败：密码正确，但已绑定身份验证器，不能重新绑定",
                # Any PERMISSION_DENIED reason a refusal logged (services/runtime/admin_events.refusals_logged):
                # the authority's checks, a department's endpoint, the platform's internal calls, a dispute.
                "NOT_AUTHORITY": "失败：仅限共享主管部门", "DEPARTMENT_ONLY": "失败：须以部门名义办理",
                "NO_DEPARTMENT": "失败：调用方不属于任何部门", "SERVICE_ONLY": "失败：仅限平台内部服务调用",
                "NOT_ENDPOINT_OWNER": "失败：前置机接口只能由提供部门登记或修改",
                "NOT_A_USER": "失败：非该信息项的使用部门，不能报告疑义",
                # The query service's refusals (DENY_REASON's words), should one reach the log.
                "NOT_GRANTED": "失败：未获授权", "ITEM_NOT_GRANTED": "失败：信息项不在授权范围内",
                "QUOTA_EXHAUSTED": "失败：调用次数已达上限", "NOT_PUBLISHED": "失败：资源目录未发布或已撤销",
                "WRONG_ZONE": "失败：资源不在本网络", "SYSTEM_REQUIRED": "失败：须由业务系统调用",
                "NOT_A_SUBJECT_ACCESS_PORTAL": "失败：非经授权的个人查询门户"}
