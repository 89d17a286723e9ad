"""The console's pieces that need no browser: settings validated all at once, sessions that end when idle or
when the person's token does, charts that escape what they draw, and the supervision page's rates."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import grpc
import pytest
from google.protobuf import timestamp_pb2

from console import forms, labels, pages, password
from console.app import Console, day, until, until_day, when, working_days_left
from console.charts import bar_chart
from console.errors import Problem, field_sentence
from console.sessions import Person, SessionStore, redis_key, seal, unseal
from console.settings import SHARED_SETTINGS, ConsoleSettingsError, load_console_settings
from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
from govshare.supervision.v1 import supervision_pb2
from services.launcher import console_environment
from services.runtime.workdays import CHINA

PERSON = Person(username="police.approver", display_name="李审批", department_code="11110100MB00000027")


def test_settings_need_the_gateway_and_name_every_problem_at_once() -> None:
    with pytest.raises(ConsoleSettingsError) as bad:
        load_console_settings({"GOVSHARE_CONSOLE_LISTEN": "nowhere", "GOVSHARE_CONSOLE_SESSION_IDLE_SECONDS": "5",
                               "GOVSHARE_CONSOLE_SECURE_COOKIE": "maybe", "GOVSHARE_CONSOLE_TLS_CERT": "/x.pem",
                               "GOVSHARE_LOG_LEVEL": "verbose"})
    message = str(bad.value)
    for name in ("GOVSHARE_CONSOLE_LISTEN", "GOVSHARE_CONSOLE_GATEWAY", "GOVSHARE_CONSOLE_SESSION_IDLE_SECONDS",
                 "GOVSHARE_CONSOLE_SECURE_COOKIE", "GOVSHARE_CONSOLE_TLS_KEY", "GOVSHARE_LOG_LEVEL='VERBOSE'"):
        assert name in message
    settings = load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"})
    assert settings.secure_cookie and settings.port == 8080 and settings.gateway_ca == ""
    assert settings.log_level == "INFO"
    assert load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051",
                                  "GOVSHARE_LOG_LEVEL": " warning "}).log_level == "WARNING"


def test_the_secure_cookie_takes_the_words_every_process_reads_as_a_boolean() -> None:
    """GOVSHARE_CONSOLE_SECURE_COOKIE took only true or false: "0", "off" or "no", which GOVSHARE_REFLECTION and
    every other boolean of the platform take, stopped the console at start (CrashLoopBackOff in a cluster)."""
    gateway = {"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}
    for word in ("0", "off", "No", " false "):
        assert load_console_settings({**gateway, "GOVSHARE_CONSOLE_SECURE_COOKIE": word}).secure_cookie is False
    for word in ("1", "on", "YES", "true", ""):
        assert load_console_settings({**gateway, "GOVSHARE_CONSOLE_SECURE_COOKIE": word}).secure_cookie is True
    with pytest.raises(ConsoleSettingsError, match=r"GOVSHARE_CONSOLE_SECURE_COOKIE='2': expected true or false"):
        load_console_settings({**gateway, "GOVSHARE_CONSOLE_SECURE_COOKIE": "2"})


def test_a_session_ends_when_idle_and_never_outlives_the_persons_token() -> None:
    now = [1_000.0]
    store = SessionStore(idle_seconds=600, clock=lambda: now[0])
    session = store.create(PERSON, "token", token_expires_at=5_000.0)
    assert len(session.id) >= 40 and len(session.csrf) >= 40
    now[0] += 599
    assert store.get(session.id) == (session, False)  # a request keeps it alive…
    now[0] += 599
    assert store.get(session.id) == (session, False)
    now[0] = 5_000.0  # …but not past the token
    assert store.get(session.id) == (None, True)
    assert store.get(session.id) == (None, False)  # gone
    idle = store.create(PERSON, "token", token_expires_at=10_000.0)
    now[0] += 601
    assert store.get(idle.id) == (None, True)
    assert store.get("forged") == (None, False)


def test_a_long_chart_label_is_cut_and_kept_whole_in_its_title() -> None:
    name = "市人力资源和社会保障局综合执法支队"
    svg = bar_chart([(name, 80.0)], maximum=100, title="得分")
    assert f"<title>{name}: 80.00</title>" in svg and ">市人力资源和社会保障局综…</text>" in svg


def test_the_bundles_log_entries_have_labels() -> None:
    # services/bundle.py logs exports on the extranet and refused imports on the intranet.
    assert labels.ADMIN_ACTION["bundle.export"] == "导出外网同步包"
    assert labels.ADMIN_RESULT["REFUSED"] == "失败：已拒绝"


def test_every_action_the_services_log_has_a_label() -> None:
    """审计's 管理操作日志 showed some actions by their code (audit.list_accesses on every 审计 page, admin_log.list,
    person.read, query.notify_records_changed…): ADMIN_ACTION was kept by hand and fell behind the services. Every
    action written as a literal where the services log one (AdminEvent, refusals_logged, the role checks that log
    a refusal, an ``action`` parameter's default) has a Chinese label."""
    import ast
    from pathlib import Path

    loggers = {"AdminEvent", "by", "refusals_logged", "_refusals_logged", "_require_auditor", "_administrator", "_log",
               "dispute_event", "_fail"}
    action = re.compile(r"[a-z_]+(?:\.[a-z_]+)+")
    logged: set[str] = set()
    for path in (Path(__file__).resolve().parents[2] / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                values = [*node.args, *(k.value for k in node.keywords)] if name in loggers else []
            elif isinstance(node, ast.arguments):
                named = [*node.posonlyargs, *node.args][-len(node.defaults):] if node.defaults else []
                values = [d for a, d in zip(named, node.defaults, strict=True) if a.arg == "action"]
                values += [d for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True)
                           if a.arg == "action" and d is not None]
            logged |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                       and action.fullmatch(v.value)}
    assert {"audit.list_accesses", "session.sign_in", "token.issue"} <= logged, sorted(logged)
    assert sorted(logged - set(labels.ADMIN_ACTION)) == []


def test_every_result_the_services_log_has_a_label() -> None:
    """审计's 管理操作日志 showed some results by their code: a sign-in with the right password and no code read
    TOTP_REQUIRED, an enrolment refused to someone replacing an enrolled authenticator TOTP_ENROLLED, and a refusal
    refusals_logged writes with its PERMISSION_DENIED reason (NOT_AUTHORITY for a department's 审计员 starting a
    verification of the audit trail or a department's reviewer publishing) its reason code. ADMIN_RESULT was kept by
    hand: every result written as a literal (``result=``, ``_fail``'s) or a module constant, and every
    PERMISSION_DENIED reason (refusals_logged logs any of them), has a Chinese label."""
    import ast
    from pathlib import Path

    reason = re.compile(r"[A-Z][A-Z_]+")
    logged: set[str] = set()
    for path in (Path(__file__).resolve().parents[2] / "services").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                     for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            values = [k.value for k in node.keywords if k.arg == "result" and name in ("by", "AdminEvent")]
            if name == "permission_denied" and node.args:
                values.append(node.args[0])
            if name == "_fail" and len(node.args) > 1:
                values.append(node.args[1])
            for value in values:
                text = value.value if isinstance(value, ast.Constant) else \
                    constants.get(value.id) if isinstance(value, ast.Name) else None
                if isinstance(text, str) and reason.fullmatch(text):
                    logged.add(text)
    assert {"TOTP_REQUIRED", "BAD_TOTP", "ROLE_REQUIRED", "NOT_AUTHORITY"} <= logged, sorted(logged)
    assert sorted(logged - set(labels.ADMIN_RESULT)) == []

def test_a_refused_list_element_is_said_once_in_the_summary_and_in_chinese() -> None:
    """A violation of a list's element (an application's items[1], a grant's grant.items[2]) is kept beside the list's
    field as well (forms.field_errors), so the summary line of 答复, 协调, 授权, 疑义 and 申请详情, which joins every
    field's sentence, said it twice: '授权 … 未调整：此项不符合要求…（平台说明：the item name was not requested by
    application …）。；此项不符合要求…' (seen on a demo platform, the adjustment's refusal in English besides)."""
    from console import forms

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    said = field_sentence("the item name was not requested by application app-1: an adjustment, like an approval, "
                          "stays within what was applied for (a new need is a new application)")
    assert said.startswith("信息项 name 不在申请 app-1 申请的范围内") and "平台说明" not in said
    errors = forms.field_errors({"grant.items[2]": said}, prefix="grant.")
    assert set(errors) == {"items[2]", "items"}
    for template in ("replies.html", "coordination.html", "grants.html", "disputes.html"):
        page = console.templates.get_template(template).render(
            request=None, session=None, person=None, csrf="", flash="", errors=errors, nav=[], current="/grants",
            may=lambda *_a: False, holds=lambda *_a: False, applications=[], grants=[], target="grt-1", typed={},
            next_token="", kind="dispute")
        summary = re.search(r'<div class="problem" role="alert">(.*?)</div>', page, re.DOTALL)
        assert summary is not None and summary[1].count("不在申请 app-1") == 1, (template, summary)

def test_a_departments_rename_has_a_label() -> None:
    # services/authorization/directory.py logs RenameDepartment, done or refused.
    assert labels.ADMIN_ACTION["directory.rename_department"] == "部门更名"
    assert labels.ADMIN_ACTION["directory.retire_department"] == "撤销部门"


def test_a_token_refused_to_a_leaked_secret_or_a_disabled_system_has_a_label() -> None:
    """services/authorization logs a token request refused to an existing system as token.issue with result
    BAD_SECRET (a wrong secret: the old one after a rotation) or SYSTEM_DISABLED, and a lock a sign-in caused as
    session.lock with LOCKED; 审计's 管理日志 showed these three in English, where the 审计员 looks for the tries
    made with a leaked secret."""
    assert labels.ADMIN_RESULT["BAD_SECRET"] == "失败：密钥错误（或已重置）"
    assert labels.ADMIN_RESULT["SYSTEM_DISABLED"] == "失败：业务系统已停用"
    assert labels.ADMIN_RESULT["LOCKED"] == "账号已锁定"
    # A system's own rotation tried with a token its disable or a rotation ended (a leaked token).
    assert labels.ADMIN_RESULT["CREDENTIALS_REVOKED"] == "失败：令牌已失效（业务系统已停用或密钥已重置）"


def test_a_lock_says_which_failure_locked_the_account() -> None:
    """session.lock read 账号已锁定 alone, whether the failure that locked the account was a fifth wrong password or
    the right password with a wrong code (the password found): the entry's details say which now."""
    from types import SimpleNamespace

    from console.app import admin_result
    lock = SimpleNamespace(action="session.lock", result="LOCKED", details_json=json.dumps(
        {"lock_seconds": 900, "failure": "BAD_TOTP", "during": "session.sign_in"}))
    assert admin_result(lock) == "账号已锁定（登录时动态口令错误）"
    lock.details_json = json.dumps({"lock_seconds": 900, "failure": "BAD_PASSWORD",
                                    "during": "session.change_password"})
    assert admin_result(lock) == "账号已锁定（修改密码时密码错误）"
    lock.details_json = json.dumps({"lock_seconds": 900})  # an entry logged before
    assert admin_result(lock) == "账号已锁定"


def test_a_token_of_the_secret_a_systems_own_rotation_replaced_is_said_so() -> None:
    """A system's own rotation keeps its old secret until the new one has had a token: a token issued with it is
    said so on 管理日志, where an auditor after a leak looks for the old secret's use."""
    from types import SimpleNamespace

    from console.app import admin_result
    issued = SimpleNamespace(action="token.issue", result="OK", details_json=json.dumps(
        {"expire_time": 1, "previous_secret": True}))
    assert admin_result(issued).endswith("（使用自行轮换前的原密钥：新密钥尚未使用）")
    issued.details_json = json.dumps({"expire_time": 1})
    assert "原密钥" not in admin_result(issued)


def test_the_refusals_of_credentials_replaced_meanwhile_have_labels() -> None:
    assert labels.ADMIN_RESULT["SECRET_ROTATED"] == "失败：密钥已在签发期间轮换"
    assert labels.ADMIN_RESULT["CREDENTIALS_CHANGED"] == "失败：密码或动态口令已在登录期间重置"
    assert labels.ADMIN_RESULT["OIDC_TOKEN_REPLAYED"] == "失败：统一身份认证凭据重复使用"
    from console.oidc import EXCHANGE_MESSAGES
    assert "只能登录一次" in EXCHANGE_MESSAGES["OIDC_TOKEN_REPLAYED"]  # what the person reads, not "登录未完成"
    assert labels.ADMIN_RESULT["OIDC_SUBJECT_MISMATCH"] == "失败：统一身份认证账号与绑定账号不一致"
    assert "绑定的账号不一致" in EXCHANGE_MESSAGES["OIDC_SUBJECT_MISMATCH"]


def test_the_foundation_refusals_log_entries_have_labels() -> None:
    # services/foundation logs refused loads and refused history reads with the refusal's reason as result.
    assert labels.ADMIN_RESULT["NOT_A_SOURCE"] == "失败：非登记的数据来源"
    assert labels.ADMIN_RESULT["NO_AUTHORITATIVE_SOURCE"] == "失败：未指定权威来源"
    assert labels.ADMIN_RESULT["NOT_AUTHORITATIVE_SOURCE"] == "失败：非权威来源"


def test_a_score_short_of_100_reads_on_its_bar_as_in_the_table() -> None:
    """The 监督 chart wrote each score to one decimal, the table beside it to two: 99.99 read 100.0 on its bar, the
    score of a department that missed nothing."""
    svg = bar_chart([("市公安局", 99.99), ("市民政局", 100.0)], maximum=100, title="得分")
    assert ">99.99</text>" in svg and "<title>市公安局: 99.99</title>" in svg and ">100.00</text>" in svg
    assert ">100.0</text>" not in svg


def test_charts_escape_their_labels_and_clamp_their_bars() -> None:
    svg = bar_chart([("<script>", 150.0), ("部门", -3.0)], maximum=100, title="得分 & 排名")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "得分 &amp; 排名" in svg
    assert svg.count('class="chart-bar"') == 2 and 'width="0.0"' in svg


def test_working_days_left_follow_the_statutory_calendar() -> None:
    """The home page's "剩余工作日": National Day week 2026 (10-01..10-07) is off, Saturday 10-10 is worked."""
    def due(day: str) -> timestamp_pb2.Timestamp:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59), tzinfo=CHINA))
        return stamp

    today = dt.date(2026, 9, 30)
    assert working_days_left(due("2026-09-30"), today) == 0  # due today
    assert working_days_left(due("2026-10-08"), today) == 1  # the holiday does not count
    assert working_days_left(due("2026-10-10"), today) == 3  # 10-08, 10-09 and the 调休 Saturday
    assert working_days_left(due("2026-09-28"), today) == -2  # two working days late


def test_a_time_past_the_last_beijing_date_is_shown_in_utc_not_a_failed_page() -> None:
    """A grant ending 9999-12-31T20:00:00Z (taken before the services refused it) made /grants, the reply and
    coordination lists and the application's page answer 500 for everyone who could see it (OverflowError)."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime(9999, 12, 31, 20, 0, tzinfo=dt.UTC))
    assert when(stamp) == "9999-12-31 20:00:00 UTC"
    assert day(stamp) == "9999-12-31"
    stamp.FromDatetime(dt.datetime(2027, 6, 30, 16, 0, tzinfo=dt.UTC))
    assert when(stamp) == "2027-07-01 00:00:00"  # Beijing time as before


def test_sessions_go_to_the_consoles_own_redis_url_else_the_platforms_else_memory() -> None:
    gateway = {"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}
    assert load_console_settings(gateway).redis_url == ""
    assert load_console_settings({**gateway, "GOVSHARE_REDIS_URL": "redis://r:6379/0"}).redis_url == "redis://r:6379/0"
    assert load_console_settings({**gateway, "GOVSHARE_REDIS_URL": "redis://r:6379/0",
                                  "GOVSHARE_CONSOLE_REDIS_URL": "redis://console@r:6379/1"}
                                 ).redis_url == "redis://console@r:6379/1"
    env = console_environment({"console": 8080, "gateway": 50051}, "unix:///tmp/redis.sock")
    assert env["GOVSHARE_CONSOLE_REDIS_URL"] == "unix:///tmp/redis.sock"
    assert not [k for k in env
                if k.startswith("GOVSHARE_") and not k.startswith("GOVSHARE_CONSOLE_") and k not in SHARED_SETTINGS]


def test_govshare_up_gives_the_console_the_platform_settings_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/configuration.md has the console read GOVSHARE_LOG_LEVEL and GOVSHARE_CALL_TIMEOUT_SECONDS, as every
    process does; under `govshare up` it got neither (console_environment kept only GOVSHARE_CONSOLE_*): with
    GOVSHARE_LOG_LEVEL=DEBUG every service logged at DEBUG and the console at INFO, and a longer call timeout set
    for a loaded machine left the console's pages at 5 s. No other platform setting (a key, a database URL)
    reaches it."""
    monkeypatch.setenv("GOVSHARE_LOG_LEVEL", "debug")
    monkeypatch.setenv("GOVSHARE_CALL_TIMEOUT_SECONDS", "12")
    monkeypatch.setenv("GOVSHARE_INTERNAL_KEY", "k" * 40)
    env = console_environment({"console": 8080, "gateway": 50051})
    settings = load_console_settings(env)
    assert (settings.log_level, settings.call_timeout_seconds) == ("DEBUG", 12.0)
    assert "GOVSHARE_INTERNAL_KEY" not in env


def test_govshare_ups_console_listens_and_calls_where_the_launcher_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOVSHARE_CONSOLE_LISTEN and GOVSHARE_CONSOLE_GATEWAY left in the shell (a `govshare serve console` tried
    before) overrode the launcher's: `govshare up` waited two minutes for a console on port N+6 that listened
    elsewhere, then stopped, and the console called the edge named there (another platform's). Its other settings
    set in the environment (the OIDC IdP, a Redis of its own) still reach it."""
    monkeypatch.setenv("GOVSHARE_CONSOLE_LISTEN", "0.0.0.0:8080")
    monkeypatch.setenv("GOVSHARE_CONSOLE_GATEWAY", "10.0.0.5:443")
    monkeypatch.setenv("GOVSHARE_CONSOLE_REDIS_URL", "redis://console@redis.example:6379/1")
    env = console_environment({"console": 50057, "gateway": 50051}, "unix:///tmp/x/redis.sock")
    assert (env["GOVSHARE_CONSOLE_LISTEN"], env["GOVSHARE_CONSOLE_GATEWAY"]) == ("127.0.0.1:50057", "127.0.0.1:50051")
    assert env["GOVSHARE_CONSOLE_REDIS_URL"] == "redis://console@redis.example:6379/1"


def test_a_sealed_session_opens_only_with_its_own_id() -> None:
    store = SessionStore(idle_seconds=600)
    session = store.create(PERSON, "the-persons-token", token_expires_at=5_000.0)
    sealed = seal(session)
    assert b"the-persons-token" not in sealed and session.id.encode() not in redis_key(session.id).encode()
    assert unseal(session.id, sealed) == session
    other = store.create(PERSON, "t", token_expires_at=5_000.0)
    assert unseal(other.id, sealed) is None  # another cookie opens nothing
    assert unseal(session.id, sealed[:-4] + b"AAAA") is None  # nor does a tampered value


def test_oidc_settings_come_together_as_http_urls() -> None:
    base = {"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}
    assert not load_console_settings(base).oidc_enabled
    with pytest.raises(ConsoleSettingsError) as bad:
        load_console_settings({**base, "GOVSHARE_CONSOLE_OIDC_AUTHORIZE_URL": "sso.example.gov.cn/auth",
                               "GOVSHARE_CONSOLE_OIDC_LOGOUT_URL": "javascript:alert(1)"})
    message = str(bad.value)
    for name in ("GOVSHARE_CONSOLE_OIDC_AUTHORIZE_URL must be an http(s) URL",
                 "GOVSHARE_CONSOLE_OIDC_LOGOUT_URL must be an http(s) URL", "_TOKEN_URL and _CLIENT_ID go together"):
        assert name in message
    realm = "https://sso.example.gov.cn/realms/gov/protocol/openid-connect"
    settings = load_console_settings({**base, "GOVSHARE_CONSOLE_OIDC_AUTHORIZE_URL": f"{realm}/auth",
                                      "GOVSHARE_CONSOLE_OIDC_TOKEN_URL": f"{realm}/token",
                                      "GOVSHARE_CONSOLE_OIDC_CLIENT_ID": "govshare-console"})
    assert settings.oidc_enabled and settings.oidc_client_id == "govshare-console"
    assert settings.oidc_redirect_url == "" and settings.oidc_logout_url == ""


async def test_a_pending_oidc_sign_in_is_taken_once_and_not_after_ten_minutes() -> None:
    from console.oidc import PENDING_SECONDS, Pending, PendingSignIns

    # RFC 7636 appendix B: the S256 challenge of its example verifier.
    example = Pending(state="s", nonce="n", verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                      redirect_uri="https://console/oidc/callback", started=0.0)
    assert example.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    now = [1_000.0]
    pending = PendingSignIns(clock=lambda: now[0])
    key, first = await pending.start("https://console/oidc/callback")
    assert 43 <= len(first.verifier) <= 128 and len({first.state, first.nonce, first.verifier, key}) == 4
    assert await pending.take(key) == first
    assert await pending.take(key) is None  # once only
    assert await pending.take(None) is None and await pending.take("") is None
    key, _late = await pending.start("https://console/oidc/callback")
    now[0] += PENDING_SECONDS + 1
    assert await pending.take(key) is None


def test_the_supervision_page_does_not_round_a_rate_up_to_100_percent() -> None:
    """The indicators were rounded to whole percents: 249 of 250 calls answered showed 100%, as a service that never
    failed, and a score of 99.96 showed 100.0; and 0 of 0 replies due showed 100.0% on time."""
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    evaluation = supervision_pb2.Evaluation(department_code=PERSON.department_code, score=99.96, indicators=[
        supervision_pb2.Indicator(name="dispute_on_time", numerator=2499, denominator=2500, rate=0.9996, weight=15),
        supervision_pb2.Indicator(name="availability", numerator=249, denominator=250, rate=0.996, weight=15),
        supervision_pb2.Indicator(name="purpose_compliance", numerator=2, denominator=3, rate=2 / 3, weight=15),
        supervision_pb2.Indicator(name="freshness", numerator=1, denominator=5000, rate=1 / 5000, weight=15),
        supervision_pb2.Indicator(name="reply_on_time", numerator=0, denominator=0, rate=1, weight=15)])
    page = console.templates.get_template("supervision.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/supervision",
        year=2026, month=12, evaluations=[evaluation], dept_names={}, chart="", next_token="", problem=None,
        indicator_names=pages.INDICATORS)
    cells = re.findall(r"<td>([^<]*)</td>", page)
    # Nothing due (0 of 0, or no such indicator) is "—", not the 100.0% the score counts it as.
    assert cells[1:] == ["99.96", "—", "—", "99.9%", "99.6%", "0.1%", "66.7%", "0"], cells
    assert "“—”：本月无应办事项，不扣分。" in page


def test_the_supervision_page_says_until_when_a_months_scores_count_and_a_month_without_departments() -> None:
    """A month in progress said its scores were of 最近一次统计（每日） without saying when; a past month last computed
    before its end (the schedule stopped, the platform down at the month's turn) showed its scores as the whole
    month's; and a month computed before any department joined said it had no evaluation "yet", as if to come."""
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    today = dt.date(2026, 12, 3)
    assert pages._figures_until(2026, 12, dt.datetime(2026, 12, 3, 17, 5, tzinfo=dt.UTC), today) == \
        "2026年12月尚未结束：评分按截至2026-12-04 01:05（北京时间）的数据计算，为阶段性结果。"
    # 28 November 15:59 UTC is the 28th's last minute in Beijing; 30 November 16:00 UTC is December already.
    assert pages._figures_until(2026, 11, dt.datetime(2026, 11, 28, 15, 59, tzinfo=dt.UTC), today) == (
        "2026年11月的监督快照计算于2026-11-28 23:59（北京时间），早于月末：评分只计入截至该时间的数据，"
        "重新计算该月后为全月结果。")
    assert pages._figures_until(2026, 11, dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC), today) == ""
    assert pages._figures_until(2026, 12, None, today) == ""
    evaluation = supervision_pb2.Evaluation(department_code=PERSON.department_code, score=100)
    common = {"request": None, "session": None, "person": None, "csrf": "", "flash": "", "errors": {}, "nav": [],
              "current": "/supervision", "year": 2026, "month": 11, "dept_names": {}, "chart": "", "next_token": "",
              "problem": None, "indicator_names": pages.INDICATORS}
    template = console.templates.get_template("supervision.html")
    page = template.render(**common, evaluations=[evaluation], until="早于月末的说明。")
    assert re.search(r'<p class="muted" id="as-of">“—”：本月无应办事项，不扣分。早于月末的说明。</p>', page)
    empty = template.render(**common, evaluations=[], no_department=True)
    assert "计算2026年11月监督快照时共享平台没有在册部门，没有评估结果。" in empty and "还没有评估结果" not in empty
    assert "2026年11月还没有评估结果（每月数据统计后生成）。" in template.render(**common, evaluations=[])
    # A department's person, of a month computed before the department joined: said so, not "not yet".
    said = "计算2026年11月监督快照时本部门尚未加入共享平台，该月没有本部门的评估结果。"
    before = template.render(**common, evaluations=[], absent=said)
    assert f'<p class="muted">{said}</p>' in before and "还没有评估结果" not in before


def _weights_said(weights: tuple[float, ...]) -> str:
    """What the 监督 page says of the weights (its id="weights" paragraph) of a month scored under ``weights``, in
    the order of the indicators; "" when the page has no such paragraph."""
    from services.supervision.reports import INDICATORS

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    evaluation = supervision_pb2.Evaluation(department_code=PERSON.department_code, score=80, indicators=[
        supervision_pb2.Indicator(name=name, weight=weight) for name, weight in zip(INDICATORS, weights, strict=True)])
    page = console.templates.get_template("supervision.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/supervision",
        year=2026, month=4, evaluations=[evaluation], dept_names={}, chart="", next_token="", problem=None,
        indicator_names=INDICATORS)
    said = re.search(r'<p class="muted" id="weights">([^<]*)</p>', page)
    return said.group(1) if said is not None else ""


def test_the_supervision_page_says_which_weights_the_month_was_scored_under() -> None:
    """A month keeps the weights it was evaluated with (a change applies from the month it is made in), but the 监督
    page showed the scores and rates without the weights: a supervisor comparing April and June could not see that
    they were scored under different weightings."""
    from services.supervision.reports import INDICATORS

    names = list(INDICATORS.values())
    # Adding up to 77.5, not 100: a supervisor summing weight × rate came to 77.5 at most beside a score of 100.
    assert _weights_said((0, 20, 15, 15, 12.5, 15)) == (
        f"2026年4月评分所用权重：{names[0]} 0、{names[1]} 20、{names[2]} 15、{names[3]} 15、"
        f"{names[4]} 12.5、{names[5]} 15。权重调整自调整当月起适用，此前各月保持原评分。"
        "权重合计为77.5，不为100：评分为各指标比率按权重的加权平均，折算为百分制。")
    said = _weights_said((20, 20, 15, 15, 15, 15))
    assert said.startswith("2026年4月评分所用权重：") and "权重合计" not in said
    # Weights of one decimal making 100 add up in binary to 100.00000000000001: the page said 权重合计为100，不为100.
    said = _weights_said((21.6, 6.9, 28.4, 27.0, 0.9, 15.2))
    assert said.startswith("2026年4月评分所用权重：") and "权重合计" not in said
    # Weights of six decimals were shown to six digits (%g): 33.333333 as 33.3333, and their total, 99.999999, as
    # 权重合计为100，不为100.
    said = _weights_said((33.333333, 33.333333, 33.333333, 0, 0, 0))
    assert f"{names[0]} 33.333333、{names[1]} 33.333333、{names[2]} 33.333333、{names[3]} 0、" in said
    assert "权重合计为99.999999，不为100" in said


def test_a_listen_port_over_65535_a_gateway_without_port_and_a_nan_timeout_are_refused() -> None:
    """GOVSHARE_CONSOLE_LISTEN=127.0.0.1:99999 started a console that said it ran on port 99999 and listened on
    34463 (uvicorn takes the port modulo 65536); a gateway 'edge:' and a timeout 'nan' were accepted."""
    with pytest.raises(ConsoleSettingsError) as bad:
        load_console_settings({"GOVSHARE_CONSOLE_LISTEN": "127.0.0.1:99999", "GOVSHARE_CONSOLE_GATEWAY": "edge:",
                               "GOVSHARE_CALL_TIMEOUT_SECONDS": "nan"})
    message = str(bad.value)
    assert "GOVSHARE_CONSOLE_LISTEN must be host:port: the port must be between 0 and 65535, got 99999" in message
    assert "GOVSHARE_CONSOLE_GATEWAY must be the edge's host:port (e.g. 127.0.0.1:50051), got 'edge:'" in message
    assert "GOVSHARE_CALL_TIMEOUT_SECONDS must be a positive number (got 'nan')" in message
    settings = load_console_settings({"GOVSHARE_CONSOLE_LISTEN": "[::1]:8443", "GOVSHARE_CONSOLE_GATEWAY": "edge:443"})
    assert settings.port == 8443 and settings.gateway == "edge:443"


def test_a_page_size_beyond_the_platforms_largest_page_is_refused() -> None:
    """GOVSHARE_CONSOLE_PAGE_SIZE=99999999999 was accepted and every list page failed (protobuf's 'Value out of
    range' for an int32); '²' passed isdigit and ended in int()'s ValueError traceback."""
    for raw in ("99999999999", "1001", "²"):
        with pytest.raises(ConsoleSettingsError) as bad:
            load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "edge:443", "GOVSHARE_CONSOLE_PAGE_SIZE": raw})
        assert f"GOVSHARE_CONSOLE_PAGE_SIZE must be a whole number from 1 to 1000 (got {raw!r})" in str(bad.value)
    assert load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "edge:443",
                                  "GOVSHARE_CONSOLE_PAGE_SIZE": "1000"}).page_size == 1000


def test_a_redis_url_of_another_scheme_is_named_not_shown() -> None:
    """GOVSHARE_CONSOLE_REDIS_URL=foo passed the settings (and `govshare up`'s check) and the console died at start
    in redis-py's ValueError traceback."""
    with pytest.raises(ConsoleSettingsError) as bad:
        load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "edge:443",
                               "GOVSHARE_CONSOLE_REDIS_URL": "http://console:pw-9c@redis:6379"})
    assert "GOVSHARE_CONSOLE_REDIS_URL: expected a redis://, rediss:// or unix:// URL" in str(bad.value)
    assert "pw-9c" not in str(bad.value)
    with pytest.raises(ConsoleSettingsError, match="GOVSHARE_REDIS_URL: expected"):
        load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "edge:443", "GOVSHARE_REDIS_URL": "foo"})
    assert load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "edge:443",
                                  "GOVSHARE_REDIS_URL": "unix:///r.sock"}).redis_url == "unix:///r.sock"


def test_a_terms_end_shows_its_last_day_in_force() -> None:
    """有效期至 of a grant ending 2027-01-01T00:00:00+08:00 (2026-12-31T16:00:00Z, as a system applying through the
    API writes it) read 2027-01-01 on /grants, the application's page and the reply's confirmation, and the forms'
    date inputs offered 2027-01-01: on that day every call is refused EXPIRED."""
    def stamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
        value = timestamp_pb2.Timestamp()
        value.FromDatetime(moment)
        return value

    midnight = stamp(dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC))
    assert (until(midnight), until_day(midnight)) == ("2026-12-31", "2026-12-31")
    end_of_day = stamp(dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=CHINA))  # what the console's forms set
    assert (until(end_of_day), until_day(end_of_day)) == ("2026-12-31", "2026-12-31")
    morning = stamp(dt.datetime(2027, 1, 1, 2, 0, 0, tzinfo=dt.UTC))  # 10:00 Beijing: part of the day only
    assert (until(morning), until_day(morning)) == ("2027-01-01 10:00:00", "2027-01-01")
    assert until(None) == until_day(timestamp_pb2.Timestamp()) == ""
    past = stamp(dt.datetime(9999, 12, 31, 20, 0, tzinfo=dt.UTC))  # no Beijing date: as `when` shows it
    assert (until(past), until_day(past)) == ("9999-12-31", "9999-12-31")


def test_a_time_is_shown_to_the_second() -> None:
    """Accesses a second apart (14:35:07 and 14:35:08) both read 14:35 on 审计, and a sign-in lock ending at
    14:50:37 said 锁定至 14:50: the person was refused for 37 seconds after the time shown."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime(2026, 12, 2, 6, 50, 37, 400_000, tzinfo=dt.UTC))
    assert when(stamp) == "2026-12-02 14:50:37"
    assert day(stamp) == "2026-12-02"


def test_a_number_typed_with_thousands_separators_is_that_number() -> None:
    """A quota copied from a document ("10,000", "10，000" with a Chinese input method) was refused as no number;
    digits grouped otherwise ("1,5", "1,00") are still no number, and the limits still hold."""
    from console.forms import INT64_MAX, number

    assert number("10,000", INT64_MAX) == number("10，000", INT64_MAX) == number("１０，０００", INT64_MAX) == 10000
    assert number("12,345,678", INT64_MAX) == 12345678
    assert number("9,223,372,036,854,775,807", INT64_MAX) == INT64_MAX
    for odd in ("1,5", "1,00", ",000", "1,000,", "1,,000", "-1,000", "9,223,372,036,854,775,808", "2,147,483,648"):
        assert number(odd) is None, odd


def test_an_unprintable_character_in_a_name_is_named_to_the_administrator_in_chinese() -> None:
    full_width = "must contain only printable characters: character 2 is U+3000 (IDEOGRAPHIC SPACE): write an " \
                 "ordinary space, or none"
    assert field_sentence(full_width) == "第 2 个字符是特殊空格（U+3000，如全角空格），请改为普通空格或删去。"
    zero_width = "must contain only printable characters: character 5 is U+200B (ZERO WIDTH SPACE): remove it"
    assert field_sentence(zero_width) == "第 5 个字符（U+200B）不可打印（如换行、制表符或零宽字符），请删去后重新填写。"
    from services.authorization.validation import name_problem

    assert field_sentence(name_problem("张\ue3a1") or "") == (
        "第 2 个字符（U+E3A1）是私用区的自造字，其他系统会显示成别的字或方框：请改用该字的标准 Unicode 编码"
        "（生僻字在扩展 B 区及以后各区；GB 18030-2022 已为原私用区的字给出标准编码），不要删去。")


def test_a_letter_typed_for_a_digit_in_a_code_is_named_to_the_person_in_chinese() -> None:
    """A department code or an ID number with the letter O for a 0 was told 统一社会信用代码只能由数字和大写字母（不含
    I、O、S、V、Z）组成 or 应为 17 位数字加 1 位数字或 X, of a code whose every character looked right on screen."""
    from services.runtime.identifiers import citizen_id_error, credit_code_error

    assert field_sentence(credit_code_error("9111OOOO600037341L") or "") == \
        "统一社会信用代码第 5 位是字母 O，该位不能是这个字母（应为数字 0？），请核对后重新填写。"
    assert field_sentence(f"{credit_code_error('91110000600037341-')}, or leave it empty for every department") == \
        "统一社会信用代码第 18 位不是数字或可用的大写字母（代码不含 I、O、S、V、Z），请核对后重新填写。"
    assert field_sentence(citizen_id_error("110105194912310I2X") or "") == \
        "公民身份号码第 16 位是字母 I，该位不能是这个字母（应为数字 1？），请核对后重新填写。"
    assert field_sentence(citizen_id_error("11010519491231002K") or "") == \
        "公民身份号码第 18 位（校验码）只能是数字或 X，请核对后重新填写。"
    assert field_sentence(citizen_id_error("1101051949123100\u00a0X") or "") == \
        "公民身份号码第 17 位不是数字（前 17 位都应是数字），请核对后重新填写。"

def test_a_mandate_changes_refusals_are_said_in_chinese_beside_their_fields() -> None:
    """The 职能变更 form's date before 1990 came back as '此项不符合要求…（平台说明：must not be before 1990-01-01）',
    the catalog's English; each violation check_mandate_change reports has a Chinese sentence."""
    import datetime as dt

    from services.catalog import rules
    from services.runtime.errors import ServiceError

    now = dt.datetime.now(dt.UTC)
    for code, description, changed in (("123", "", now), ("91110000100000000X", "x" * 2001, now),
                                    ("11110100MB00000027", "改革", now + dt.timedelta(days=2)),
                                    ("11110100MB00000027", "改革", dt.datetime(1989, 12, 31, tzinfo=dt.UTC))):
        with pytest.raises(ServiceError) as refused:
            rules.check_mandate_change(code, description, changed, now)
        for violation in refused.value.violations:
            said = field_sentence(violation.description)
            assert "平台说明" not in said, (violation, said)
    assert field_sentence("must not be before 1990-01-01") == "不能早于 1990-01-01。"
    assert field_sentence("must not be in the future") == "不能晚于现在：请在事情发生后填写。"


def test_a_departments_officer_sees_its_own_catalogue_updates_past_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """职能变更 listed the catalogue updates past due to the authority only: a department's 编目员, who makes them,
    reported a change there and never learned from the page (nor from 待办) that the update it called for was late.
    Their page now asks ListOverdueUpdates for their department's (the service answers a department its own) and
    lists them under 本部门逾期未更新的资源目录, saying what ends them; with none, it says so."""
    import asyncio
    from types import SimpleNamespace

    from starlette.requests import Request

    from console.app import Session
    from govshare.catalog.v1 import catalog_pb2

    officer = Person(username="police.officer", display_name="张编目", department_code=PERSON.department_code,
                     roles=("DATA_OFFICER",))
    session = Session(id="s", person=officer, token="t", token_expires_at=0)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    due = timestamp_pb2.Timestamp()
    due.FromDatetime(dt.datetime(2026, 3, 20, 15, 59, 59, tzinfo=dt.UTC))
    late = catalog_pb2.OverdueUpdate(department_code=officer.department_code, description="机构改革：承接登记职能",
                                     change_time=due, due_time=due)
    asked: list[object] = []

    def answering(*updates: catalog_pb2.OverdueUpdate) -> object:
        async def answered(_console: object, _session: object, _method: object, request: object) -> tuple:
            asked.append(request)
            return catalog_pb2.ListOverdueUpdatesResponse(updates=list(updates)), None
        return answered

    async def not_authority(*_args: object) -> bool:
        return False

    async def names(*_args: object, **_kwargs: object) -> dict[str, object]:
        return {"dept_names": {officer.department_code: "市公安局"}, "res_names": {}}

    monkeypatch.setattr(console, "names", SimpleNamespace(is_authority=not_authority))
    monkeypatch.setattr(console, "services", SimpleNamespace(catalog=SimpleNamespace(ListOverdueUpdates=None)))
    monkeypatch.setattr(pages, "_names", names)
    request = Request({"type": "http", "method": "GET", "path": "/mandates", "query_string": b"", "headers": [],
                       "console.session": session})
    for updates, said in (((late,), "本部门逾期未更新的资源目录"), ((), "本部门没有逾期未更新的资源目录。")):
        monkeypatch.setattr(pages, "_call", answering(*updates))
        response = asyncio.run(pages._mandates_page(console, request, session,
                                                    {"department_code": officer.department_code}))
        page = response.body.decode()
        assert response.status_code == 200 and said in page
        assert ("机构改革：承接登记职能" in page and "已逾期" in page and "2026-03-20" in page) == bool(updates)
        assert ("完成其中任一项后，该变更即不再列为逾期" in page) == bool(updates)  # said of the updates listed
        assert "报告职能变更" in page  # the form stays, for their own department
    assert [r.department_code for r in asked] == ["", ""]  # type: ignore[attr-defined]


def test_the_entry_page_shows_every_condition_and_basis_the_entry_states() -> None:
    """The entry's page showed a share condition beside 有条件共享 only and a legal basis as 不予共享依据 only:
    a not-shared entry's condition and a conditional entry's legal basis, both accepted, were stored and shown
    nowhere in the console, the officer who typed them reading a page without them."""
    from govshare.catalog.v1 import catalog_pb2
    from govshare.common.v1 import common_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))

    def page(**fields: object) -> str:
        shown = catalog_pb2.Entry(code="301001/000001", name="在侦案件涉案人员信息", **fields)  # type: ignore[arg-type]
        return console.templates.get_template("entry.html").render(
            request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/entries",
            may=lambda *_a: False, holds=lambda *_a: False, entry=shown, versions_problem=None, dept_names={},
            res_names={}, versions=[], versions_next="", params={})

    not_shared = page(share_type=common_pb2.SHARE_TYPE_NOT_SHARED, legal_basis="《刑事诉讼法》",
                      share_condition="经共享主管部门协调后方可使用")
    assert "不予共享依据" in not_shared and "经共享主管部门协调后方可使用" in not_shared
    conditional = page(share_type=common_pb2.SHARE_TYPE_CONDITIONAL, share_condition="仅限办案使用",
                       legal_basis="《居民身份证法》第十九条")
    assert '<dt>共享依据</dt><dd><span class="said">《居民身份证法》第十九条</span></dd>' in conditional
    assert "仅限办案使用" in conditional


def test_the_application_form_says_basic_only_of_a_foundation_resources_basic_items() -> None:
    """申请使用 marked every item ticked 基础项 in its catalogue entry （基础项）, a department resource's too: only a
    foundation resource's basic items are every department's without a grant (R-SHR-4), so an applicant reading it
    on a department resource left the item out and was then refused ITEM_NOT_GRANTED for it (found by catalog15)."""
    from govshare.catalog.v1 import catalog_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))

    def form(category: int) -> str:
        shown = catalog_pb2.Entry(code="301001/000001", name="测试资源", category=category, items=[
            catalog_pb2.DataItem(name="姓名", machine_name="name", basic=True),
            catalog_pb2.DataItem(name="住址", machine_name="address")])
        return console.templates.get_template("apply.html").render(
            request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/catalog",
            may=lambda *_a: False, holds=lambda *_a: False, entry=shown, values={}, problem=None, dept_names={})

    assert form(catalog_pb2.CATEGORY_FOUNDATION).count("（基础项，无需申请即可使用）") == 1
    for category in (catalog_pb2.CATEGORY_THEME, catalog_pb2.CATEGORY_DEPARTMENT):
        assert "基础项" not in form(category)


def test_a_retired_entrys_page_says_why_it_was_retired() -> None:
    """The 撤销目录 form asks for a reason "记入目录历史", but no page showed it: a department whose grant ended
    with the entry's retirement read 已撤销 and nothing of why. The page now says it (or that none was given)."""
    from govshare.catalog.v1 import catalog_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))

    def page(**fields: object) -> str:
        shown = catalog_pb2.Entry(code="301001/000001", name="在侦案件涉案人员信息", **fields)  # type: ignore[arg-type]
        return console.templates.get_template("entry.html").render(
            request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/entries",
            may=lambda *_a: False, holds=lambda *_a: False, entry=shown, versions_problem=None, dept_names={},
            res_names={}, versions=[], versions_next="", params={})

    assert '<dt>撤销理由</dt><dd><span class="said">职能划转至市司法局</span></dd>' in page(
        state=catalog_pb2.ENTRY_STATE_RETIRED, retire_reason="职能划转至市司法局")
    assert "<dt>撤销理由</dt><dd>撤销时未填写理由</dd>" in page(state=catalog_pb2.ENTRY_STATE_RETIRED)
    assert "撤销理由</dt>" not in page(state=catalog_pb2.ENTRY_STATE_PUBLISHED)
    # Every return of the version, with its time and reviewer (Entry.returns), not the latest reason alone.
    from govshare.common.v1 import common_pb2
    returned = page(state=catalog_pb2.ENTRY_STATE_SUBMITTED, returns=[
        catalog_pb2.EntryReturn(reason="摘要过于简单", returned_by=common_pb2.Actor(display_name="李审核")),
        catalog_pb2.EntryReturn(reason="请写明数据范围", returned_by=common_pb2.Actor(id="authority-system"))])
    assert "退回记录（共 2 次）" in returned and "李审核" in returned and "authority-system" in returned
    assert '<td>第 2 次</td>' in returned and '<span class="said">请写明数据范围</span>' in returned
    assert "退回记录" not in page(state=catalog_pb2.ENTRY_STATE_PUBLISHED)


def test_reworking_a_returned_version_shows_why_it_was_returned() -> None:
    """修改 of a returned version opened the entry form without the reviewer's reason: the 编目员 reworking it read
    the reason in the 编目 list's column, then worked from memory, and a save refused for a field lost it too. The
    form (draft_edit: form_of_entry of the version read) now shows it above the fields, and keeps it in the form
    for when it is shown again after a refusal."""
    from starlette.requests import Request

    from console.app import Session
    from govshare.catalog.v1 import catalog_pb2

    officer = Person(username="police.officer", display_name="张编目", department_code=PERSON.department_code,
                     roles=("DATA_OFFICER",))
    session = Session(id="s", person=officer, token="t", token_expires_at=0)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    returned = catalog_pb2.Entry(code="301001/000300", name="在侦案件涉案人员信息", version=1,
                                 state=catalog_pb2.ENTRY_STATE_RETURNED, return_reason="摘要过于简单，请写明数据范围")
    request = Request({"type": "http", "method": "GET", "path": "/drafts/edit", "query_string": b"", "headers": [],
                       "console.session": session})
    page = pages._entry_form(console, request, forms.form_of_entry(returned), editing=returned.code).body.decode()
    assert '<p id="return-reason" class="said">摘要过于简单，请写明数据范围</p>' in page
    assert 'name="return_reason" value="摘要过于简单，请写明数据范围"' in page  # shown again after a refusal
    draft = catalog_pb2.Entry(code="301001/000301", state=catalog_pb2.ENTRY_STATE_DRAFT)
    assert "审核退回理由" not in pages._entry_form(console, request, forms.form_of_entry(draft),
                                                 editing=draft.code).body.decode()


def test_a_form_sent_after_the_sign_in_ended_lists_only_what_was_typed() -> None:
    """The sign-in page lists what a form sent after the session ended held, to copy: an entry form's version tag
    (etag, "07389b96946e03f8") and an application's request_id (a UUID) were listed among the texts typed, each a
    box to copy that the person never wrote. Hidden fields the page fills itself are left out."""
    import asyncio
    from urllib.parse import urlencode

    from starlette.requests import Request

    from console.app import ended_post

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    body = urlencode({"csrf_token": "x", "etag": "07389b96946e03f8", "summary": "全市户籍人口",
                      "request_id": "2f1c7a52-8a7e-4f1b-9d2a-6f2b8c1e0d11", "purpose_text": "窗口受理",
                      "return_reason": "摘要过于简单", "confirmed": "yes"}).encode()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/drafts/edit", "query_string": b"",
                       "headers": [(b"content-type", b"application/x-www-form-urlencoded")]}, receive)
    page = asyncio.run(ended_post(console, request)).body.decode()
    kept = re.findall(r'aria-label="未提交的内容 \d+">([^<]*)</textarea>', page)
    assert kept == ["全市户籍人口", "窗口受理"]


def test_every_catalog_rule_is_said_in_chinese_beside_its_field() -> None:
    """An entry named with a Kangxi radical (⼈口基础信息), or two items whose names read alike, were refused on the
    编目 form with '此项不符合要求…（平台说明：reads as the name of entry.items[1]: give each item a name of its
    own…）': the catalog's English. Every violation the catalog's rules can report has a Chinese sentence."""
    from services.catalog import rules
    from services.catalog.model import (
        Category,
        DataItem,
        DataType,
        Endpoint,
        Entry,
        FormatClass,
        IdentifierKind,
        Secrecy,
        ShareMethod,
        ShareType,
        UpdateCycle,
        Zone,
    )
    from services.runtime.masking import Masker

    def item(name: str, machine_name: str, **fields: object) -> DataItem:
        return DataItem(name=name, machine_name=machine_name, data_type=fields.pop("data_type", DataType.DATE),
                        **fields)  # type: ignore[arg-type]

    key = item("公民身份号码", "citizen_id", data_type=DataType.CHARACTER, length=18, mask_rule="citizen_id",
               identifier=IdentifierKind.CITIZEN_ID)
    changes: list[dict[str, object]] = [
        {"name": "\u2f08口基础信息", "provider_name": "人口\uf900"},
        {"items": [key, item("出生日期", "birth_date"), item("出生日期 ", "birth_date_2"), item("x", "birth_date"),
                   item("y", "Bad"), item("z", "z1", data_type=DataType.CHARACTER), item("w", "w1", mask_rule="bank"),
                   item("v", "v1", identifier=IdentifierKind.CITIZEN_ID), item("u", "u1", length=-1)]},
        {"items": [key] + [item(f"项{i}", f"i{i}") for i in range(rules.MAX_ITEMS)]},
        {"related_codes": [f"101001/{i:06d}" for i in range(rules.MAX_RELATED + 1)]},
        {"related_codes": ["101001/000001", "101001/000002", "101001/000002", "bad"]},
        {"code": "207001/000001", "subject": "人力"},
        {"share_type": ShareType.CONDITIONAL, "share_methods": []},
        {"share_type": ShareType.NOT_SHARED, "share_methods": [ShareMethod.ONLINE_QUERY, ShareMethod.ONLINE_QUERY]},
        {"secrecy": Secrecy.CLASSIFIED, "open_to_public": True},
        {"endpoint": Endpoint(target="a b", dataset="x y"), "key_item": "birth", "name": "", "summary": "摘" * 300},
        {"key_item": "birth_date", "provider_department_code": "91110000600037341X", "update_cycle": 0},
    ]
    said: dict[str, str] = {}
    for change in changes:
        entry = Entry(code="101001/000001", name="人口基础信息", category=Category.FOUNDATION, subject="人口",
                      provider_department_code="91110000600037341L", format_class=FormatClass.DATABASE,
                      items=[key, item("出生日期", "birth_date")], key_item="citizen_id",
                      share_type=ShareType.UNCONDITIONAL, share_methods=[ShareMethod.ONLINE_QUERY],
                      update_cycle=UpdateCycle.DAILY, zone=Zone.EXTRANET, secrecy=Secrecy.NON_CLASSIFIED,
                      endpoint=Endpoint(dataset="population"))
        for name, value in change.items():
            setattr(entry, name, value)
        said |= {v.description: field_sentence(v.description) for v in rules.validate_entry(entry, Masker().known)}
    assert len(said) > 25
    assert {description: text for description, text in said.items() if "平台说明" in text} == {}
    assert said["U+2F08 at position 0 is a radical or compatibility form drawn like 人 (U+4EBA): write 人"] == \
        "含有外形像“人”的部首或兼容字符（U+2F08），它不是“人”：请用输入法重新输入“人”。"
    assert field_sentence(rules.zero_parts_problem("100000/000000") or "") == (
        "信息资源代码的项“00”不能全为 0（可用 01-99）；目“000”不能全为 0（可用 001-999）；"
        "顺序号“000000”不能全为 0（可用 000001-999999）：请按分类编号重新填写代码。")
    assert field_sentence(rules.item_number_problem("201001/000001", Category.THEME, "信用体系") or "") == (
        "信息资源代码的项“01”与类目“信用体系”不符：该分类的项按类目编号，须为 01 健康保障、02 社会保障、"
        "03 食品药品安全、04 安全生产、05 价格监管、06 能源安全、07 信用体系、08 城乡建设、09 社区治理、10 生态环保、"
        "11 应急维稳 之一，“信用体系”为 07。")


@pytest.mark.parametrize(("query", "said"), [
    ("。", "关键词只有标点、空格或看不见的字符"), ("《》、“”", "关键词只有标点、空格或看不见的字符"),
    ("%", "关键词只有标点、空格或看不见的字符"), ("\u200b", "关键词只有标点、空格或看不见的字符"),
    ("一 二 三 四 五 六 七 八 九 十 十一", "关键词最多 10 个词"), ("字" * 201, "不能超过 200 个字")])
def test_a_catalog_search_refused_is_said_for_what_was_typed(query: str, said: str) -> None:
    """目录's 关键词 typed as 。, 《》 or % (punctuation, which separates words and finds none) was told
    此项必填，请填写 beside the text typed, and eleven words 此项不符合要求…（平台说明：at most 10 words）, the
    service's English."""
    from services.catalog import search
    from services.runtime.errors import ServiceError

    with pytest.raises(ServiceError) as refused:
        search.parse_query(query)
    [violation] = refused.value.violations
    text = field_sentence(violation.description)
    assert said in text and "平台说明" not in text and "必填" not in text, text
    with pytest.raises(ServiceError) as refused:
        search.parse_query("  ")
    assert "必填" in field_sentence(refused.value.violations[0].description)  # nothing typed is said as before


def test_a_grant_its_resource_no_longer_lets_through_is_said_unusable() -> None:
    """A conditional resource made 不予共享 (or retired) after a provider's grant: /grants said 有效 of it while
    every query under it was refused NOT_SHARED (NOT_PUBLISHED). A grant the authority's coordination gave still
    opens a not-shared resource, and an expired or revoked grant is said so already."""
    from console.names import Resource
    from console.pages import unusable_grant
    from govshare.authorization.v1 import sharing_pb2
    from govshare.catalog.v1 import catalog_pb2
    from govshare.common.v1 import common_pb2

    provider, authority = "11110100MB0000006K", "11110100MB00000014"
    by_provider = sharing_pb2.Grant(id="grt-1", state=sharing_pb2.GRANT_STATE_ACTIVE,
                                    granted_by={"id": "psn-1", "department_code": provider})
    by_authority = sharing_pb2.Grant(id="grt-2", state=sharing_pb2.GRANT_STATE_ACTIVE,
                                     granted_by={"id": "psn-2", "department_code": authority})
    published = catalog_pb2.ENTRY_STATE_PUBLISHED
    not_shared = Resource("社会保险参保信息", {}, provider, common_pb2.SHARE_TYPE_NOT_SHARED, published)
    conditional = Resource("社会保险参保信息", {}, provider, common_pb2.SHARE_TYPE_CONDITIONAL, published)
    retired = Resource("社会保险参保信息", {}, provider, common_pb2.SHARE_TYPE_CONDITIONAL,
                       catalog_pb2.ENTRY_STATE_RETIRED)
    assert "不予共享" in unusable_grant(by_provider, not_shared)
    assert unusable_grant(by_authority, not_shared) == ""
    assert unusable_grant(by_provider, conditional) == ""
    assert "已撤销" in unusable_grant(by_provider, retired)
    # Read ENDED since the service says so: why, whatever the resource's state as the console last read it.
    ended = sharing_pb2.Grant(id="grt-4", state=sharing_pb2.GRANT_STATE_ENDED,
                              granted_by={"id": "psn-1", "department_code": provider})
    assert "已随之终止" in unusable_grant(ended, conditional)
    revoked = sharing_pb2.Grant(id="grt-3", state=sharing_pb2.GRANT_STATE_REVOKED,
                                granted_by={"id": "psn-1", "department_code": provider})
    assert unusable_grant(revoked, not_shared) == ""


def test_a_grant_links_to_the_application_whose_reply_states_its_conditions() -> None:
    """A provider approving with conditions writes them in the reply (仅限低保审核使用，不得向第三方提供), which the
    application's page shows; /grants, where the using department's persons find what they may use, showed the
    grant without its conditions nor a way to its application (live on govshare up). Each grant now links to the
    application it answers."""
    from govshare.authorization.v1 import sharing_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    grant = sharing_pb2.Grant(id="grt-1", application_id="app-04c4", resource_code="101001/000001",
                              state=sharing_pb2.GRANT_STATE_ACTIVE,
                              granted_by={"id": "psn-1", "display_name": "李审批"})
    page = console.templates.get_template("grants.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/grants",
        may=lambda *_a: True, grants=[grant], actions={"grt-1": (False, False)}, unusable={}, names={},
        dept_names={}, res_names={}, next_token="", target="", typed={})
    assert '依据申请 <a href="/applications/view?id=app-04c4">app-04c4</a>' in page, page


def test_a_grant_shows_an_item_dropped_and_added_back_since_as_lapsed_not_as_granted() -> None:
    """授权 listed address among a grant's items (and ticked it in 调整信息项) after a catalogue update dropped it and a
    later one added it back, though the grant no longer covers it: the page shows the items in force (the service
    leaves address out of items) and names address 已失效, with no checkbox for it."""
    from govshare.authorization.v1 import sharing_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    grant = sharing_pb2.Grant(id="grt-1", resource_code="101001/000001", state=sharing_pb2.GRANT_STATE_ACTIVE,
                              items=["name", "birth_date"], lapsed_items=["address"])
    names = {"101001/000001": {"name": "姓名", "birth_date": "出生日期", "address": "现居住地址"}}
    page = console.templates.get_template("grants.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/grants",
        may=lambda *_a: True, grants=[grant], actions={"grt-1": (True, False)}, unusable={}, names=names,
        dept_names={}, res_names={}, next_token="", target="", typed={})
    lapsed = "信息项 姓名、出生日期（address 已失效：目录变更后重新增加，本授权不再覆盖，如需使用须重新申请）"
    assert lapsed in page, page
    assert 'value="address"' not in page and "现居住地址" not in page


def test_the_adjustment_of_a_coordinated_grant_asks_for_its_reason() -> None:
    """A provider's narrowing of a grant the authority's coordination decision gave needs a reason (UpdateGrant's
    reason): 保存调整 offered no field for it, so the console's 审批人 could not adjust such a grant at all. 调整理由 is
    required there, optional on the provider's own grants."""
    from govshare.authorization.v1 import sharing_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    coordinated = sharing_pb2.Grant(id="grt-1", resource_code="101001/000001", state=sharing_pb2.GRANT_STATE_ACTIVE,
                                    items=["name"])
    own = sharing_pb2.Grant(id="grt-2", resource_code="101001/000001", state=sharing_pb2.GRANT_STATE_ACTIVE,
                            items=["name"])
    page = console.templates.get_template("grants.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/grants",
        may=lambda *_a: True, grants=[coordinated, own], actions={"grt-1": (True, False), "grt-2": (True, False)},
        unusable={}, names={}, dept_names={}, res_names={}, next_token="", target="", typed={},
        coordinated={"grt-1"})
    first, second = page[page.index('value="grt-1"'):page.index('value="grt-2"')], page[page.index('value="grt-2"'):]
    assert "调整理由（协调决定给予的授权，必填）" in first and 'name="reason" required' in first, first
    assert "调整理由（选填）" in second and 'name="reason" required' not in second


def test_a_grant_says_an_item_the_catalog_dropped_apart_from_one_added_back() -> None:
    """An item the catalog dropped since the grant (and did not add back) is no longer among the grant's items, in
    lapsed_items like one added back: 授权 said of it 目录变更后重新增加, which it was not. Each is said as it is."""
    from govshare.authorization.v1 import sharing_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    grant = sharing_pb2.Grant(id="grt-1", resource_code="101001/000001", state=sharing_pb2.GRANT_STATE_ACTIVE,
                              items=["name"], lapsed_items=["birth_date", "address"])
    names = {"101001/000001": {"name": "姓名", "address": "现居住地址"}}
    page = console.templates.get_template("grants.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/grants",
        may=lambda *_a: True, grants=[grant], actions={"grt-1": (True, False)}, unusable={}, names=names,
        dept_names={}, res_names={}, next_token="", target="", typed={})
    assert ("信息项 姓名（address 已失效：目录变更后重新增加，本授权不再覆盖，如需使用须重新申请）"
            "（birth_date 已失效：授权后已从该资源目录中删除，本授权不再覆盖）") in page, page


def test_a_grant_whose_every_item_lapsed_is_said_unusable_and_offers_no_adjustment() -> None:
    """A grant whose every item a catalogue update dropped and a later one added back covers nothing (the decision
    refuses GRANT_LAPSED), yet 授权 said 有效 of it, with items listed as none and 调整信息项 offering no item to
    keep, whose 保存调整 the service always refused (no item). It is 不可用 with why in Chinese, and only 撤销 is
    offered; a grant with an item in force is not."""
    from console.names import Resource
    from console.pages import _grant_actions, unusable_grant
    from govshare.authorization.v1 import sharing_pb2
    from govshare.catalog.v1 import catalog_pb2
    from govshare.common.v1 import common_pb2

    provider = "11110100MB0000006K"
    grant = sharing_pb2.Grant(id="grt-1", resource_code="101001/000001", state=sharing_pb2.GRANT_STATE_ACTIVE,
                              lapsed_items=["birth_date", "address"],
                              granted_by={"id": "psn-1", "department_code": provider})
    resource = Resource("人口基本信息", {}, provider, common_pb2.SHARE_TYPE_CONDITIONAL,
                        catalog_pb2.ENTRY_STATE_PUBLISHED)
    why = unusable_grant(grant, resource)
    assert why.startswith("本授权的信息项（birth_date、address）均已在授权后从该资源目录中删除") and \
        "授权已失效" in why and "重新申请" in why, why
    partly = sharing_pb2.Grant(id="grt-2", state=sharing_pb2.GRANT_STATE_ACTIVE, items=["name"],
                               lapsed_items=["address"], granted_by={"id": "psn-1", "department_code": provider})
    assert unusable_grant(partly, resource) == ""
    approver = Person(username="police.approver", display_name="李审批", department_code=provider, roles=("APPROVER",))
    assert _grant_actions(approver, grant, provider) == (False, True)
    assert _grant_actions(approver, partly, provider) == (True, True)
    # Nor is one of a retired resource adjusted: retiring it ended the grant for good (the service refuses it).
    assert _grant_actions(approver, partly, provider, retired=True) == (False, True)
    ended = sharing_pb2.Grant(id="grt-3", state=sharing_pb2.GRANT_STATE_ENDED, items=["name"],
                              granted_by={"id": "psn-1", "department_code": provider})
    assert _grant_actions(approver, ended, provider) == (False, True)  # revoked only, to tidy up
    # An expired grant of the provider's own approval may be extended; one the authority's coordination gave may not
    # (the service refuses a later end of it), and only the authority's 审核员 revokes it.
    authority = {"id": "psn-9", "department_code": "11100000MB0000001X"}
    expired = sharing_pb2.Grant(id="grt-4", state=sharing_pb2.GRANT_STATE_EXPIRED, items=["name"],
                                granted_by={"id": "psn-1", "department_code": provider})
    assert _grant_actions(approver, expired, provider) == (True, True)
    coordinated = sharing_pb2.Grant(id="grt-5", state=sharing_pb2.GRANT_STATE_ACTIVE, items=["name"],
                                    granted_by=authority)
    assert _grant_actions(approver, coordinated, provider) == (True, False)  # narrowed as needs change
    coordinated.state = sharing_pb2.GRANT_STATE_EXPIRED
    assert _grant_actions(approver, coordinated, provider) == (False, False)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    page = console.templates.get_template("grants.html").render(
        request=None, session=None, person=approver, csrf="", flash="", errors={}, nav=[], current="/grants",
        may=lambda *_a: True, grants=[grant], actions={"grt-1": (False, True)}, unusable={"grt-1": why}, names={},
        dept_names={}, res_names={}, next_token="", target="", typed={})
    assert "授权 grt-1 · 101001/000001 · 不可用" in page and why in page and "调整信息项" not in page, page


def test_on_its_due_day_an_answer_is_due_today_not_left_no_time() -> None:
    """On the due day working_days_left is 0, and 首页 and 答复 said 仅剩 0 个工作日: nothing left, as if the
    application were already late, though a reply until the day's last second is on time (the deadline is
    23:59:59.999999 Beijing time). The pages say 今天到期 that day, 已逾期 after."""
    import datetime as dt

    from govshare.authorization.v1 import sharing_pb2
    from govshare.query.v1 import dispute_pb2

    due = timestamp_pb2.Timestamp()
    due.FromDatetime(dt.datetime(2026, 12, 4, 15, 59, 59, tzinfo=dt.UTC))  # Friday 4 December, 23:59:59 Beijing
    assert working_days_left(due, dt.date(2026, 12, 4)) == 0 and working_days_left(due, dt.date(2026, 12, 7)) == -1
    late = sharing_pb2.Application(id="app-late", resource_code="101001/000001", reply_due_time=due, overdue=True)
    today = sharing_pb2.Application(id="app-today", resource_code="101001/000001", reply_due_time=due)
    dispute = dispute_pb2.Dispute(id="d-today", resource_code="101001/000001", item="name", due_time=due)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    common = dict(request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[],
                  may=lambda *_a: True, warn=2, item_names={}, dept_names={}, res_names={}, names={})
    home = console.templates.get_template("home.html").render(
        current="/", show_replies=True, due=[(late, -1), (today, 0)], show_disputes=True, disputes=[(dispute, 0)],
        reviews=[], coordinate=[], overdue=[], unanswered=[], conflicts=[], **common)
    replies = console.templates.get_template("replies.html").render(
        current="/replies", applications=[(late, -1), (today, 0)], next_token="", target="", typed={}, closed={},
        **common)
    for page in (home, replies):
        assert "仅剩 0" not in page
        assert '<strong class="late">已逾期 1 个工作日</strong>' in page[page.index("app-late"):page.index("app-today")]
        assert '<strong class="late">今天到期</strong>' in page[page.index("app-today"):]
    assert '<strong class="late">今天到期</strong>' in home[home.index("d-today"):]


def test_a_day_of_rest_after_the_due_day_is_late_by_no_working_day_yet() -> None:
    """The Saturday after a Friday due day, 首页 and 答复 said 已逾期 1 个工作日, and the Monday after said it again:
    working_days_left counted the due day itself among the days late. Days of rest (a weekend, the National Day
    holiday) straight after the due day are late by no working day yet, shown 已逾期 alone; the first working day
    after it is one."""
    from govshare.authorization.v1 import sharing_pb2

    def due(day: str) -> timestamp_pb2.Timestamp:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59), tzinfo=CHINA))
        return stamp

    friday = due("2026-12-04")
    assert [working_days_left(friday, dt.date(2026, 12, d)) for d in (5, 6, 7, 8)] == [0, 0, -1, -2]
    before_national_day = due("2026-09-30")  # 10-01..10-07 off, 10-08 worked
    assert working_days_left(before_national_day, dt.date(2026, 10, 5)) == 0
    assert working_days_left(before_national_day, dt.date(2026, 10, 8)) == -1
    late = sharing_pb2.Application(id="app-late", resource_code="101001/000001", reply_due_time=friday, overdue=True)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    left = working_days_left(friday, dt.date(2026, 12, 5))
    common = dict(request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[],
                  may=lambda *_a: True, warn=2, item_names={}, dept_names={}, res_names={}, names={})
    home = console.templates.get_template("home.html").render(
        current="/", show_replies=True, due=[(late, left)], show_disputes=False, disputes=[], reviews=[],
        coordinate=[], overdue=[(late, left)], unanswered=[(late, left)], show_mine=True, show_coordination=True,
        conflicts=[], **common)
    replies = console.templates.get_template("replies.html").render(
        current="/replies", applications=[(late, left)], next_token="", target="", typed={}, closed={}, **common)
    for page in (home, replies):
        assert '<strong class="late">已逾期</strong>' in page and "个工作日</strong>" not in page, page
        assert "今天到期" not in page


def test_a_grant_ending_soon_whose_every_item_lapsed_is_not_offered_for_extension() -> None:
    """首页's 即将到期的授权 told the provider's 审批人 they may extend a grant whose every item the catalog dropped
    since (the query refuses it GRANT_LAPSED): extended, it would still let nothing through. The row says so."""
    from govshare.authorization.v1 import sharing_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    lapsed = sharing_pb2.Grant(id="grt-lapsed", resource_code="101001/000001", lapsed_items=["birth_date"],
                               state=sharing_pb2.GRANT_STATE_ACTIVE)
    usable = sharing_pb2.Grant(id="grt-usable", resource_code="101001/000001", items=["status"],
                               lapsed_items=["birth_date"], state=sharing_pb2.GRANT_STATE_ACTIVE)
    home = console.templates.get_template("home.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], may=lambda *_a: True, warn=2,
        item_names={}, dept_names={}, res_names={}, names={}, current="/", show_ending=True, notice_days=30,
        ending=[(lapsed, 10), (usable, 12)], due=[], disputes=[], reviews=[], coordinate=[], overdue=[],
        unanswered=[], conflicts=[])
    said = "已不可用：所授信息项均已在授权后从目录中删除，延长有效期也不能再使用，使用部门须重新申请"
    assert said in home[home.index("grt-lapsed"):home.index("grt-usable")], home
    assert said not in home[home.index("grt-usable"):]


def test_a_grant_ending_soon_that_coordination_gave_is_not_offered_for_extension() -> None:
    """首页's 即将到期的授权 told the provider's 审批人 提供部门可在“授权”中延长有效期 of every grant, one the
    authority's coordination decision gave too, whose extension UpdateGrant refuses (a later expire_time widens the
    decision). Its row says the provider cannot extend it; the provider's own grant's row does not."""
    from console.names import Resource
    from console.pages import given_by_coordination
    from govshare.authorization.v1 import sharing_pb2
    from govshare.common.v1 import common_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    provider, authority = "11100000000000001X", "11100000000000002X"
    decided = sharing_pb2.Grant(id="grt-decided", resource_code="101001/000001", items=["name"],
                                state=sharing_pb2.GRANT_STATE_ACTIVE,
                                granted_by=common_pb2.Actor(id="p-1", department_code=authority))
    own = sharing_pb2.Grant(id="grt-own", resource_code="101001/000001", items=["name"],
                            state=sharing_pb2.GRANT_STATE_ACTIVE,
                            granted_by=common_pb2.Actor(id="p-2", department_code=provider))
    fixed = given_by_coordination([decided, own], {"101001/000001": Resource("人口", {}, provider)})
    assert fixed == {"grt-decided"}
    home = console.templates.get_template("home.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], may=lambda *_a: True, warn=2,
        item_names={}, dept_names={}, res_names={}, names={}, current="/", show_ending=True, notice_days=30,
        ending=[(decided, 10), (own, 12)], due=[], disputes=[], reviews=[], coordinate=[], overdue=[],
        unanswered=[], conflicts=[], by_coordination=fixed)
    said = "提供部门不能延长"
    assert said in home[home.index("grt-decided"):home.index("grt-own")], home
    assert said not in home[home.index("grt-own"):]


def test_the_reply_form_of_an_application_whose_resource_closed_since_offers_refusal_only() -> None:
    """An application waiting while its resource was made 不予共享 (or retired): 答复 offered 同意 as for any other,
    and the 审批人 who filled in the items, the term and the quota learnt only from the refusal that they could
    only refuse. The card now says so and offers 不予共享 alone (a retired resource's, closed with it, no decision
    at all); an open resource's card is unchanged."""
    from console.names import Resource
    from console.pages import closed_to_approval, ended_with_resource
    from govshare.authorization.v1 import sharing_pb2
    from govshare.catalog.v1 import catalog_pb2
    from govshare.common.v1 import common_pb2

    published = catalog_pb2.ENTRY_STATE_PUBLISHED
    not_shared = Resource("社会保险参保信息", {}, "P", common_pb2.SHARE_TYPE_NOT_SHARED, published)
    retired = Resource("社会保险参保信息", {}, "P", common_pb2.SHARE_TYPE_CONDITIONAL, catalog_pb2.ENTRY_STATE_RETIRED)
    conditional = Resource("社会保险参保信息", {}, "P", common_pb2.SHARE_TYPE_CONDITIONAL, published)
    assert "不予共享" in closed_to_approval(not_shared) and "已撤销" in closed_to_approval(retired)
    # A retired resource's application is closed with it (APPLICATION_CLOSED): nobody is to refuse it.
    assert "已随之终止" in closed_to_approval(retired) and "不予共享" not in closed_to_approval(retired)
    assert closed_to_approval(conditional) == "" and closed_to_approval(Resource()) == ""
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    closed = sharing_pb2.Application(id="app-closed", resource_code="202001/000001", items=["name"])
    open_ = sharing_pb2.Application(id="app-open", resource_code="101001/000001", items=["name"])
    page = console.templates.get_template("replies.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/replies",
        may=lambda *_a: True, warn=2, dept_names={}, res_names={}, names={}, next_token="", target="", typed={},
        applications=[(closed, 5), (open_, 5)], closed={"app-closed": closed_to_approval(not_shared)})
    first, second = page[page.index("app-closed"):page.index("app-open")], page[page.index("app-open"):]
    assert "已调整为不予共享" in first and 'value="approve"' not in first and 'value="refuse"' in first
    assert 'value="approve"' in second and "已调整为不予共享" not in second
    # A retired resource's application is closed with it: its card says so and offers nothing, not 不予共享, which
    # the service refuses APPLICATION_CLOSED (the card offered it, and the 审批人's refusal was 您的操作未完成).
    ended = ended_with_resource([closed, open_], {"202001/000001": retired, "101001/000001": conditional})
    assert ended == {"app-closed"}
    page = console.templates.get_template("replies.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/replies",
        may=lambda *_a: True, warn=2, dept_names={}, res_names={}, names={}, next_token="", target="", typed={},
        applications=[(closed, 5), (open_, 5)], closed={"app-closed": closed_to_approval(retired)}, ended=ended)
    first, second = page[page.index("app-closed"):page.index("app-open")], page[page.index("app-open"):]
    assert "所申请的资源目录已撤销，此申请已随之终止" in first and "<form" not in first and "不予共享" not in first
    assert 'value="approve"' in second and 'value="refuse"' in second


def test_the_coordination_card_of_an_application_whose_resource_was_retired_offers_no_decision() -> None:
    """An escalated application whose resource was retired since: 协调 offered 准予共享 as for any other, and the
    审核员 learnt only from the refusal (NOT_PUBLISHED, said to the provider: 待办的申请请…点击“不予共享”) that the
    coordination could only refuse. The card says so and offers no decision (the application is closed with its
    resource: a refusal is refused APPLICATION_CLOSED); a not-shared resource, which coordination opens, and an
    open one keep 准予共享."""
    from console.names import Resource
    from console.pages import closed_to_coordination
    from govshare.authorization.v1 import sharing_pb2
    from govshare.catalog.v1 import catalog_pb2
    from govshare.common.v1 import common_pb2

    published = catalog_pb2.ENTRY_STATE_PUBLISHED
    retired = Resource("社会保险参保信息", {}, "P", common_pb2.SHARE_TYPE_CONDITIONAL, catalog_pb2.ENTRY_STATE_RETIRED)
    not_shared = Resource("社会保险参保信息", {}, "P", common_pb2.SHARE_TYPE_NOT_SHARED, published)
    # A retired resource's escalated application is closed with it: nothing to coordinate, not '点击“不予共享”'.
    assert "已撤销" in closed_to_coordination(retired) and "已随之终止" in closed_to_coordination(retired)
    assert "不予共享" not in closed_to_coordination(retired)
    assert closed_to_coordination(not_shared) == "" and closed_to_coordination(Resource()) == ""
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    closed = sharing_pb2.Application(id="app-closed", resource_code="202001/000001", items=["name"])
    open_ = sharing_pb2.Application(id="app-open", resource_code="101001/000001", items=["name"])
    page = console.templates.get_template("coordination.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/coordination",
        may=lambda *_a: True, dept_names={}, res_names={}, names={}, next_token="", target="", typed={},
        applications=[closed, open_], escalations={}, may_decide=True,
        closed={"app-closed": closed_to_coordination(retired)}, ended={"app-closed"})
    first, second = page[page.index("app-closed"):page.index("app-open")], page[page.index("app-open"):]
    assert "所申请的资源目录已撤销，此申请已随之终止" in first
    # Closed with its resource (APPLICATION_CLOSED): no form, not 不予共享 either, which the service refuses.
    assert "<form" not in first and 'value="grant"' not in first and 'value="refuse"' not in first
    assert 'value="grant"' in second and "已撤销" not in second


def test_an_application_for_a_retired_resource_offers_no_escalation_and_says_what_to_do() -> None:
    """The service refuses to escalate an application whose resource was retired (RESOURCE_RETIRED: coordination
    could grant nothing), yet the application's page offered 提请共享主管部门协调 on a refusal or an overdue
    application. It says the resource was retired and what to do instead (withdraw an undecided one), without the
    escalation form; the withdrawal stays offered."""
    from console.names import Resource
    from console.pages import _retired_for_applicant
    from govshare.authorization.v1 import sharing_pb2
    from govshare.catalog.v1 import catalog_pb2
    from govshare.common.v1 import common_pb2

    retired = Resource("社会保险参保信息", {}, "P", common_pb2.SHARE_TYPE_CONDITIONAL, catalog_pb2.ENTRY_STATE_RETIRED)
    published = Resource("社会保险参保信息", {}, "P", common_pb2.SHARE_TYPE_CONDITIONAL,
                         catalog_pb2.ENTRY_STATE_PUBLISHED)
    overdue = sharing_pb2.Application(id="app-late", resource_code="202001/000001", items=["name"], overdue=True,
                                      state=sharing_pb2.APPLICATION_STATE_SUBMITTED)
    refused = sharing_pb2.Application(id="app-refused", state=sharing_pb2.APPLICATION_STATE_REFUSED)
    approved = sharing_pb2.Application(id="app-approved", state=sharing_pb2.APPLICATION_STATE_APPROVED)
    assert "请撤回此申请" in _retired_for_applicant(overdue, retired)
    assert "最终结果" in _retired_for_applicant(refused, retired)
    assert _retired_for_applicant(approved, retired) == "" and _retired_for_applicant(overdue, published) == ""
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))

    def page(retired_said: str) -> str:
        return console.templates.get_template("application.html").render(
            request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/applications",
            may=lambda *_a: True, dept_names={}, res_names={}, names={}, typed={}, grant=None, may_escalate=True,
            application=overdue, retired=retired_said)

    assert "提请共享主管部门协调</button>" in page("") and "撤回申请" in page("")
    said = page(_retired_for_applicant(overdue, retired))
    assert "该资源目录已撤销" in said and "提请共享主管部门协调</button>" not in said and "撤回申请" in said, said


def test_an_application_whose_requested_period_ended_offers_no_escalation_and_says_what_to_do() -> None:
    """Once the period applied for has ended, nothing can grant it (the service refuses its escalation, TERM_ENDED),
    yet the application's page offered 提请共享主管部门协调 on a refusal or an overdue application. It says so and what
    to do instead (withdraw an undecided one), without the escalation form; the withdrawal stays offered."""
    import datetime as dt

    from google.protobuf import timestamp_pb2

    from console.pages import _term_ended_for_applicant
    from govshare.authorization.v1 import sharing_pb2

    now = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)
    ended, later = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    ended.FromDatetime(now - dt.timedelta(minutes=1))
    later.FromDatetime(now + dt.timedelta(days=30))
    overdue = sharing_pb2.Application(id="app-late", resource_code="202001/000001", items=["name"], overdue=True,
                                      state=sharing_pb2.APPLICATION_STATE_SUBMITTED, requested_expire_time=ended)
    refused = sharing_pb2.Application(id="app-refused", state=sharing_pb2.APPLICATION_STATE_REFUSED,
                                      requested_expire_time=ended)
    approved = sharing_pb2.Application(id="app-approved", state=sharing_pb2.APPLICATION_STATE_APPROVED,
                                       requested_expire_time=ended)
    running = sharing_pb2.Application(id="app-running", state=sharing_pb2.APPLICATION_STATE_REFUSED,
                                      requested_expire_time=later)
    assert "请撤回此申请" in _term_ended_for_applicant(overdue, now)
    assert "最终结果" in _term_ended_for_applicant(refused, now)
    assert _term_ended_for_applicant(approved, now) == "" == _term_ended_for_applicant(running, now)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    said = console.templates.get_template("application.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/applications",
        may=lambda *_a: True, dept_names={}, res_names={}, names={}, typed={}, grant=None, may_escalate=True,
        application=overdue, retired=_term_ended_for_applicant(overdue, now))
    assert "所申请的有效期已届满" in said and "提请共享主管部门协调</button>" not in said and "撤回申请" in said, said



def test_an_applications_page_shows_the_methods_and_systems_approved_when_they_differ() -> None:
    """An approval leaves out a method the resource no longer offers, and the provider narrows a grant's systems
    later: the application's page showed the methods and systems applied for alone (批准的 only items, term and
    quota), so the applicant read a batch download or a system the grant does not give."""
    from govshare.authorization.v1 import sharing_pb2
    from govshare.common.v1 import common_pb2

    online, download = common_pb2.SHARE_METHOD_ONLINE_QUERY, common_pb2.SHARE_METHOD_BATCH_DOWNLOAD
    applied = sharing_pb2.Application(id="app-1", resource_code="101001/000001", items=["name"],
                                      methods=[online, download], system_ids=["sys-a", "sys-b"], grant_id="grt-1",
                                      state=sharing_pb2.APPLICATION_STATE_APPROVED)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))

    def page(grant: sharing_pb2.Grant) -> str:
        return console.templates.get_template("application.html").render(
            request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/applications",
            may=lambda *_a: True, dept_names={}, res_names={}, names={}, typed={}, grant=grant, may_escalate=False,
            application=applied, retired="")

    as_applied = sharing_pb2.Grant(id="grt-1", items=["name"], methods=[download, online],
                                   system_ids=["sys-b", "sys-a"])
    assert "批准的使用方式" not in page(as_applied)  # the same, in another order
    narrowed = page(sharing_pb2.Grant(id="grt-1", items=["name"], methods=[online], system_ids=["sys-a"]))
    approved = narrowed[narrowed.index("批准的使用方式"):]
    assert "联机查询 · 限定业务系统 sys-a" in approved and "批量下载" not in approved, approved


def test_change_password_refused_while_locked_says_so_and_until_when() -> None:
    """ChangePassword's ACCOUNT_LOCKED is UNAUTHENTICATED, which the console's pages read as an ended session: the
    修改密码 page sent a locked person to the sign-in page saying 登录已过期 while their session went on."""
    shown: list[tuple[str, int, str]] = []

    class Shown:
        def page(self, request: object, template: str, *, status: int, message: str = "", **_: object) -> None:
            shown.append((template, status, message))

    password._refusal(Shown(), None, Problem(  # type: ignore[arg-type]
        message="登录已失效，请重新登录：too many failed sign-ins: this account is locked until "
                "2026-12-02T07:35:05+00:00 (or until the administrator unlocks it)",
        code=grpc.StatusCode.UNAUTHENTICATED, reason="ACCOUNT_LOCKED"))
    assert shown == [("refused.html", 403, password.LOCKED.format(until="至 2026-12-02 15:35:05（北京时间）"))]


def test_ids_codes_and_not_found_objects_are_said_in_chinese() -> None:
    """A link cut short, a bookmark or a typed address showed the service's English after the Chinese sentence:
    "…（平台说明：'bad' is not a well-formed application id: …）", "…（平台说明：统一社会信用代码 has an invalid
    check character）", "未找到要操作的对象…：application 'app-…' not found"."""
    from console.errors import not_found_text

    malformed = "'bad' is not a well-formed application id: pass the id the platform returned (it begins 'app-')"
    assert field_sentence(malformed) == \
        "“bad”不是平台给出的编号（编号以 app- 开头）：请从列表中打开，或核对后重新填写。"
    cut = ("'grt-0000000000000000' is not a well-formed grant id: after 'grt-' come 32 lower-case hex digits; this "
           "one has 16 (cut short?)")
    assert field_sentence(cut) == ("“grt-0000000000000000”不是完整的平台编号（编号以 grt- 开头，其后为 32 位"
                                   "小写十六进制数字），此处只有 16 位，可能被截断：请从列表中打开，"
                                   "或核对后重新填写。")
    odd = ("'sys-ab_c' is not a well-formed system id: after 'sys-' come 4 to 64 lower-case letters and digits; its "
           "character 7 is '_'")
    assert field_sentence(odd) == ("“sys-ab_c”不是完整的平台编号（编号以 sys- 开头，其后为 4 至 64 位小写字母或数字），"
                                   "第 7 个字符“_”不应出现在编号中：请从列表中打开，或核对后重新填写。")
    assert field_sentence("统一社会信用代码 has an invalid check character") == \
        "统一社会信用代码的校验位不正确，请核对后重新填写。"
    assert field_sentence("统一社会信用代码 must have 18 characters, got 1") == \
        "统一社会信用代码应为 18 位，现为 1 位，请核对后重新填写。"
    assert field_sentence("公民身份号码 must have 18 characters, got 19: remove the ' before it (a spreadsheet's mark "
                          "for text)") == "公民身份号码前面多了一个 '（电子表格的文本标记），请删去。"
    assert field_sentence("must be the classification (类 1 digit 1-3, 项 2 digits, 目 3 digits, optional 细目 3 "
                          "digits), '/', and a 6-digit sequence, e.g. 101001/000001").startswith("须为信息资源代码（")
    assert not_found_text("application 'app-0123' not found") == "申请 app-0123"
    assert not_found_text("catalog entry 101001/000001 version 3 not found") == "目录 101001/000001（第 3 版）"
    assert not_found_text("department '11110100MB9999999Y' not found") == "部门 11110100MB9999999Y"
    assert not_found_text("a snapshot of 2026-11 for this department not found") == \
        "a snapshot of 2026-11 for this department not found"  # no object of the list: as the service said it


def test_a_refusal_for_the_role_or_the_department_is_said_in_chinese() -> None:
    """A PERMISSION_DENIED was the Chinese sentence followed by the service's English ("…：only a 审批人 (APPROVER)
    may reply to applications (you hold 申请人 (APPLICANT))"): it is said whole in Chinese from its reason and
    metadata; a reason the console has no sentence for keeps the service's words."""
    from console.errors import denied_sentence

    assert denied_sentence("ROLE_REQUIRED", {"required_role": "APPROVER"}, "only a 审批人 (APPROVER) may reply") == \
        "此操作须由审批人办理，您当前的角色无权办理。如工作需要，请联系共享主管部门的管理员调整您的角色。"
    assert denied_sentence("ROLE_REQUIRED", {"required_role": "REVIEWER"}, "only the authority's 审核员 (REVIEWER) "
                           "may coordinate") == "此操作须由共享主管部门的审核员办理。"
    assert denied_sentence("NOT_YOUR_DEPARTMENT", {"required_role": "APPROVER", "department_code": "X"}, "") == \
        "此事项属于部门 X，须由该部门的审批人办理，您的部门无权办理。"
    assert denied_sentence("NOT_INVOLVED", {}, "").startswith("此事项与您的部门无关")
    assert denied_sentence("QUOTA_EXHAUSTED", {}, "") is None


def test_a_refusal_for_another_departments_matter_names_the_department() -> None:
    """An 审批人 of 市人力资源和社会保障局 answering, on 答复, an application made by their own department to 市公安局
    read 此事项属于部门 11110100MB00000027，须由该部门的审批人办理: a code no person knows their colleagues by. The
    console now names the department, as its pages do beside every code; a code it finds no name for stays."""
    import asyncio
    from types import SimpleNamespace

    from console.pages import _call
    from services.runtime.errors import ServiceError, to_status

    police = "11110100MB00000027"

    async def refuse(_token: str, _method: object, _request: object, _wait: float) -> None:
        status = to_status(ServiceError(grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_DEPARTMENT", "not yours",
                                        metadata={"required_role": "APPROVER", "department_code": police}),
                           "authorization")
        raise grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*status.trailing_metadata),
                                   status.details)

    async def departments(_token: str, codes: list[str]) -> dict[str, str]:
        return {code: "市公安局" for code in codes if code == police}

    async def refusal(names: object) -> str:
        console = SimpleNamespace(services=SimpleNamespace(call=refuse), names=names)
        _, problem = await _call(console, SimpleNamespace(token="t"), object(), object())  # type: ignore[arg-type]
        return problem.message

    assert asyncio.run(refusal(SimpleNamespace(departments=departments))) == \
        "此事项属于市公安局，须由该部门的审批人办理，您的部门无权办理。"

    async def unnamed(_token: str, codes: list[str]) -> dict[str, str]:
        return {}

    assert asyncio.run(refusal(SimpleNamespace(departments=unnamed))) == \
        f"此事项属于部门 {police}，须由该部门的审批人办理，您的部门无权办理。"


def test_an_oidc_sign_in_refused_for_a_locked_account_says_so() -> None:
    """A person with a password too, locked by wrong ones, then signing in through the identity provider read
    登录未完成，请稍后重试。: ExchangeOidcToken's ACCOUNT_LOCKED (UNAUTHENTICATED) had no sentence of its own."""
    from console.oidc import _exchange_refusal
    from services.runtime.errors import ServiceError, to_status

    def refusal(**metadata: str) -> str:
        status = to_status(ServiceError(grpc.StatusCode.UNAUTHENTICATED, "ACCOUNT_LOCKED", "locked",
                                        metadata=metadata), "authorization")
        return _exchange_refusal(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
            *status.trailing_metadata), status.details)).message

    assert refusal(lock_expire_time="2026-12-03T04:30:00+00:00") == (
        "连续登录失败次数过多，账号已被临时锁定至 2026-12-03 12:30:00（北京时间），届时可再试，或联系管理员解锁。")
    assert refusal() == "连续登录失败次数过多，账号已被临时锁定，请稍后再试或联系管理员解锁。"


def test_an_id_token_the_platform_refuses_is_logged_with_the_platforms_words(
        caplog: pytest.LogCaptureFixture) -> None:
    """The identity provider rotated its signing key (or the audience, the issuer, a clock disagreed): every
    person signing in read 统一身份认证的登录凭据未通过平台校验，请重新登录 and the console logged
    "OIDC sign-in refused (401)", nothing more, while ExchangeOidcToken's refusal said which key or claim;
    the authorization service logs no refusal of an anonymous call. The console, whose ID token comes from
    the IdP itself, now logs it, and the person is told to ask the administrator if it goes on."""
    import logging

    from console.oidc import _exchange_refusal
    from services.runtime.errors import ServiceError, to_status

    why = ("the identity provider's ID token was refused (it names key 'k2', which the provider's JWKS does not "
           "publish (as fetched 3 s ago; an unknown key fetches it again at most every 10 s)): sign in at the "
           "provider again")
    status = to_status(ServiceError(grpc.StatusCode.UNAUTHENTICATED, "OIDC_TOKEN_INVALID", why), "authorization")
    error = grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*status.trailing_metadata),
                                 status.details)
    with caplog.at_level(logging.WARNING, logger="govshare.console"):
        said = _exchange_refusal(error).message
    assert said.endswith("如仍不能登录，请联系管理员（控制台日志记有原因）。"), said
    assert [record.getMessage() for record in caplog.records] == [
        f"ExchangeOidcToken refused the identity provider's ID token (OIDC_TOKEN_INVALID): {why}"]


def test_a_sign_in_of_a_retired_departments_person_says_the_department_was_retired() -> None:
    """A person of a department merged into another (RetireDepartment) read 用户名或密码错误 at sign-in, by password
    or through the identity provider: DEPARTMENT_RETIRED (UNAUTHENTICATED) had no sentence of its own."""
    from console.oidc import _exchange_refusal
    from console.signin import _refusal
    from services.runtime.errors import ServiceError, to_status

    status = to_status(ServiceError(grpc.StatusCode.UNAUTHENTICATED, "DEPARTMENT_RETIRED",
                                    "department … was retired on 2026-12-03"), "authorization")
    error = grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*status.trailing_metadata),
                                 status.details)
    for said in (_refusal(error).message, _exchange_refusal(error).message):
        assert said.startswith("您所在的部门已撤销，其账号不能再登录。"), said
    assert labels.ADMIN_RESULT["DEPARTMENT_RETIRED"] == "失败：部门已撤销"


def test_an_application_sent_without_a_purpose_or_a_method_is_told_so_in_chinese() -> None:
    """申请使用 sent without ticking a 用途 or a 使用方式 (the form does not check them, the service does) showed
    beside each "此项不符合要求，请修改后重新提交（平台说明：at least one purpose is required）。"."""
    import datetime as dt

    from services.authorization import applications as apps

    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    draft = apps.Draft(applicant_department_code="", resource_code="101001/000001", items=("name",),
                       basis="《社会救助暂行办法》第十一条", requested_expire_time=now + dt.timedelta(days=30))
    said = {p.field: field_sentence(p.description) for p in apps.draft_problems(draft, now)}
    assert said == {"application.purposes": "请至少勾选一个用途。", "application.methods": "请至少勾选一种使用方式。"}


def test_an_item_the_catalog_dropped_since_the_application_is_said_in_chinese_on_the_reply_form() -> None:
    """答复 and 协调 tick every item applied for; approving one that a version published since dropped showed
    "此项不符合要求，请修改后重新提交（平台说明：address is no longer an item of resource … (version 2): approve
    only items it has, naming them in items）。"."""
    import datetime as dt

    from govshare.catalog.v1 import catalog_pb2
    from services.authorization import applications as apps

    entry = catalog_pb2.Entry(code="101001/000001", version=2, items=[catalog_pb2.DataItem(machine_name="name")])
    scope = apps.Scope(system_ids=(), items=("name", "address"), unmasked_items=(), purposes=(), methods=(),
                       expire_time=dt.datetime(2027, 1, 1, tzinfo=dt.UTC), quota=0)
    [problem] = apps.scope_entry_problems(scope, entry)
    assert field_sentence(problem.description) == \
        "信息项 address 已不在该资源目录（第 2 版）中，不能再准予：请取消勾选后重新提交。"


def test_approving_an_application_whose_resource_was_retired_says_to_refuse_it_in_chinese() -> None:
    """答复 (and 协调) of an application whose resource was retired while it waited is refused NOT_PUBLISHED; the page
    read '当前状态不允许此操作：resource … is RETIRED now: its use can no longer be granted; refuse the application,
    saying so'. It is said whole in Chinese, saying to refuse it."""
    from console.errors import problem_of
    from govshare.authorization.v1 import sharing_pb2
    from services.runtime.errors import failed_precondition, to_status

    for detail in ("resource 101001/000001 is RETIRED now: its use can no longer be granted; refuse the "
                   "application, saying so", "resource 101001/000001 is not published: it cannot be applied for"):
        status = to_status(failed_precondition("NOT_PUBLISHED", detail), "authorization")
        problem = problem_of(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
            *status.trailing_metadata), status.details))
        # Not '待办的申请请填写理由后点击“不予共享”': a retired resource's undecided applications are closed with it
        # (APPLICATION_CLOSED), and nobody can refuse them.
        assert problem.message == ("该资源目录已撤销或未发布，其使用不能再申请，也不能再同意或准予：已撤销资源的待办"
                                   "申请已随之终止，无需答复，刷新页面即可看到；如仍需要，请对现有的资源目录重新申请。")
    # The provider's refusal is 不予共享, the rules' word (对不予共享的，提供部门应说明理由), as the authority's is.
    assert labels.APPLICATION_STATE[sharing_pb2.APPLICATION_STATE_REFUSED] == "答复不予共享"
    assert labels.APPLICATION_EVENT["REFUSED"] == "答复不予共享"


def test_every_step_of_an_applications_history_is_named_in_chinese() -> None:
    """办理过程 showed a grant's confidentiality mark as the bare code GRANT_CONFIDENTIALITY: every action the
    authorization service writes into an application's history (its _EVENT constants, the actions its steps are
    created with) has its Chinese name."""
    import re
    from pathlib import Path

    from console import labels

    source = "".join(path.read_text(encoding="utf-8")
                     for path in Path(__file__).parents[2].joinpath("services", "authorization").glob("*.py"))
    actions = set(re.findall(r'_EVENT = "([A-Z_]+)"|ApplicationEvent\("([A-Z_]+)"|_event\(caller, "([A-Z_]+)"',
                             source))
    written = {name for found in actions for name in found if name}
    assert {"SUBMITTED", "GRANT_REVOKED", "GRANT_CONFIDENTIALITY"} <= written, written
    assert written - set(labels.APPLICATION_EVENT) == set()


def test_a_step_another_person_took_first_or_that_would_lock_the_authority_out_is_said_in_chinese() -> None:
    """A second 审批人 answering a dispute already answered, a second 编目员 resolving a conflict already resolved, a
    审核员 publishing an entry changed during the review, an administrator disabling the authority's last enabled
    system or the last administrator, or creating a person where the platform keeps no person secret key, read
    '当前状态不允许此操作：' and the service's English ('dispute dsp-… was already answered'). Each is said whole in
    Chinese, saying what to do."""
    from console.errors import problem_of
    from services.authorization.store import LAST_AUTHORITY_SYSTEM
    from services.runtime.errors import failed_precondition, to_status

    refusals = {
        "DISPUTE_CLOSED": ("dispute dsp-0123456789abcdef0123456789abcdef was already answered", "已经答复"),
        "CONFLICT_RESOLVED": ("conflict cfl-01 was resolved already (adopt, by department 11110100MB00000027): "
                              "ListConflicts with state CONFLICT_STATE_RESOLVED shows how", "已经处理"),
        "CHANGED_DURING_REVIEW": ("101001/000001 changed while its endpoint was checked: review it again",
                                  "重新审核"),
        "LAST_AUTHORITY_SYSTEM": (LAST_AUTHORITY_SYSTEM, "最后一个启用中的业务系统"),
        "LAST_ADMINISTRATOR": ("person admin2 is the platform's last enabled 管理员 (ADMINISTRATOR): create or "
                               "enable another administrator first", "最后一位在用的管理员"),
        "LOCAL_ACCOUNTS_NEED_KEY": ("local accounts (password and TOTP) need GOVSHARE_PERSON_SECRET_KEY on the "
                                    "authorization service; without it persons sign in with OpenID Connect only",
                                    "统一身份认证登录"),
    }
    for reason, (detail, said) in refusals.items():
        status = to_status(failed_precondition(reason, detail), "authorization")
        problem = problem_of(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
            *status.trailing_metadata), status.details))
        assert said in problem.message, reason
        assert not re.search(r"[a-z]{3,} [a-z]{3,}", problem.message), problem.message  # no English sentence


def test_a_nul_in_a_filter_is_said_on_the_page_not_as_a_missing_field_hint() -> None:
    """人员 (or any listing) opened with %00 in its filter: the service refuses the request as a whole (field
    "request", no input of any page), and the page said "请按字段旁的提示修改后重新提交" with no hint beside any
    field. It now says, in Chinese, what is wrong and what to do."""
    import asyncpg

    from console.errors import problem_of
    from services.runtime.errors import text_not_storable, to_status

    refused = text_not_storable(asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"))
    assert refused is not None
    status = to_status(refused, "authorization")
    problem = problem_of(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
        *status.trailing_metadata), status.details))
    assert problem.code == grpc.StatusCode.INVALID_ARGUMENT
    assert problem.message.startswith("填写的内容或链接中含有空字符（U+0000") and "NUL" not in problem.message


def test_a_catalog_step_refused_for_its_entrys_state_is_said_in_chinese() -> None:
    """A second 审核员 publishing an entry the first had just published (or a 编目员 submitting one a colleague had
    submitted) read '当前状态不允许此操作：entry 101001/000001 version 1 is PUBLISHED: only SUBMITTED entries can be
    reviewed'. The catalog's INVALID_STATE is said whole in Chinese, from its metadata."""
    from console.errors import problem_of
    from services.catalog.lifecycle import REVIEWABLE, SUBMITTABLE, wrong_state
    from services.catalog.model import Entry, EntryState
    from services.runtime.errors import to_status

    for state, action, allowed, said in ((EntryState.PUBLISHED, "reviewed", REVIEWABLE, "已发布"),
                                         (EntryState.SUBMITTED, "submitted", SUBMITTABLE, "待审核")):
        entry = Entry(code="101001/000001", version=1, state=state)
        status = to_status(wrong_state(entry, action, allowed), "catalog")
        problem = problem_of(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
            *status.trailing_metadata), status.details))
        assert problem.message == (f"目录 101001/000001 第 1 版当前为“{said}”，不能办理此操作（可能已由他人办理）："
                                   "请刷新页面，按其当前状态办理。")


def test_an_entry_edit_refused_as_changed_meanwhile_is_said_in_chinese() -> None:
    """A 编目员 saving the 修改 form after a colleague had changed (or submitted) the entry read '该记录已被他人修改，
    本次修改未生效，请重新打开后再修改：entry … was changed since you read it (now version 2, SUBMITTED, last changed
    … Beijing time): nothing was changed; read the entry again and redo your edit'. It is said whole in Chinese."""
    import datetime as dt

    from console.errors import problem_of
    from services.catalog.lifecycle import require_etag
    from services.catalog.model import Entry, EntryState
    from services.runtime.errors import ServiceError, to_status

    entry = Entry(code="101001/000001", version=2, state=EntryState.SUBMITTED,
                  update_time=dt.datetime(2026, 12, 3, 7, 49, 57, tzinfo=dt.UTC))
    with pytest.raises(ServiceError) as refused:
        require_etag(entry, "an-etag-read-before")
    status = to_status(refused.value, "catalog")
    problem = problem_of(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
        *status.trailing_metadata), status.details))
    assert problem.message == ("您打开目录 101001/000001 后，它已被他人修改（现为第 2 版“待审核”，最后修改于北京时间 "
                               "2026-12-03 15:49:57），您的修改未保存：请重新打开该目录，核对后再修改。")


def test_the_review_page_says_what_a_new_version_changes_for_existing_grants() -> None:
    """审核 showed a submitted version alone: a version 2 that dropped the masking of 联系电话, gave the machine name
    of 姓名 to another item and made the resource unconditional was published without the reviewer being shown any
    of it, though every grant on the resource read the new version the moment it was."""
    from console.versions import version_changes
    from govshare.catalog.v1 import catalog_pb2
    from govshare.common.v1 import common_pb2

    def item(name: str, machine_name: str, **fields: object) -> catalog_pb2.DataItem:
        return catalog_pb2.DataItem(name=name, machine_name=machine_name, data_type=catalog_pb2.DATA_TYPE_CHARACTER,
                                    length=50, **fields)  # type: ignore[arg-type]

    published = catalog_pb2.Entry(
        code="301002/000001", version=1, name="测试资源", share_type=common_pb2.SHARE_TYPE_CONDITIONAL,
        share_methods=[common_pb2.SHARE_METHOD_ONLINE_QUERY], share_condition="用于社会保障核查",
        items=[item("姓名", "name"), item("联系电话", "phone", sensitive=True, mask_rule="phone"),
               item("住址", "address")],
        endpoint=catalog_pb2.ProviderEndpoint(dataset="population"))
    submitted = catalog_pb2.Entry()
    submitted.CopyFrom(published)
    submitted.version, submitted.share_type = 2, common_pb2.SHARE_TYPE_UNCONDITIONAL
    del submitted.items[:]
    submitted.items.extend([item("姓名及曾用名", "name"), item("联系电话", "phone"), item("婚姻状况", "marriage")])
    assert version_changes(published, submitted) == [
        "共享类型：有条件共享 → 无条件共享",
        "新增信息项：婚姻状况（marriage）",
        "删除信息项：住址（address）",
        "信息项 name：名称 姓名 → 姓名及曾用名（已获授权的部门将读到改名后的内容）",
        "信息项 phone：不再是敏感项（已获授权的部门将读到未脱敏的值）",
    ]
    assert version_changes(published, published) == []
    both, reordered = catalog_pb2.Entry(), catalog_pb2.Entry()
    both.CopyFrom(published)
    both.share_methods[:] = [common_pb2.SHARE_METHOD_BATCH_DOWNLOAD, common_pb2.SHARE_METHOD_ONLINE_QUERY]
    reordered.CopyFrom(both)
    reordered.share_methods[:] = [common_pb2.SHARE_METHOD_ONLINE_QUERY, common_pb2.SHARE_METHOD_BATCH_DOWNLOAD]
    assert version_changes(both, reordered) == []  # the share methods are a set
    # A version saved from the console before the catalog wrote line breaks as LF holds CRLF: the same text.
    crlf, lf = catalog_pb2.Entry(), catalog_pb2.Entry()
    crlf.CopyFrom(published)
    crlf.summary, crlf.legal_basis = "全员人口的身份信息\r\n户籍信息", "第一条\r\n第二条"
    lf.CopyFrom(crlf)
    lf.summary, lf.legal_basis = "全员人口的身份信息\n户籍信息", "第一条\n第二条"
    assert version_changes(crlf, lf) == []
    # Each field is named as the entry's form and page name it (R-CAT-1), not 名称, 网络, 密级, 不予共享的依据.
    base, renamed = catalog_pb2.Entry(), catalog_pb2.Entry()
    base.CopyFrom(published)
    base.zone, base.secrecy = common_pb2.ZONE_EXTRANET, catalog_pb2.SECRECY_NON_CLASSIFIED
    renamed.CopyFrom(base)
    renamed.name, renamed.zone = "测试资源（新）", common_pb2.ZONE_INTRANET
    renamed.secrecy = catalog_pb2.SECRECY_CLASSIFIED
    renamed.legal_basis, renamed.key_item = "《某某条例》第五条", "name"
    assert version_changes(base, renamed) == [
        "信息资源名称：测试资源 → 测试资源（新）", "网络区域：政务外网 → 政务内网", "涉密属性：非涉密 → 涉密",
        "查询键信息项： → name", "不予共享依据已修改"]
    # A version that relinks the entry, moves it to another project, changes its format or the kind of key query
    # validates was shown to the reviewer as changing nothing (an empty 变更 list: "no change" to publish).
    moved = catalog_pb2.Entry()
    moved.CopyFrom(published)
    moved.related_codes[:] = ["301002/000002"]
    moved.project_code, moved.format_class, moved.format_type = "P2026-01", catalog_pb2.FORMAT_CLASS_DATABASE, "JSON"
    moved.items[0].identifier = catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID
    published.format_class, published.format_type = catalog_pb2.FORMAT_CLASS_SPREADSHEET, "XLSX"
    assert version_changes(published, moved) == [
        "信息资源格式分类：电子表格 → 数据库", "信息资源格式类型：XLSX → JSON", "项目代码： → P2026-01",
        "关联资源代码：无 → 301002/000002", "信息项 name：键类型 无 → 公民身份号码（查询键按新的类型校验）"]


class _Form(dict):  # type: ignore[type-arg]
    """A posted form as starlette gives it: values by name, getlist for the repeated ones."""

    def getlist(self, name: str) -> list[str]:
        value = self.get(name, [])
        return value if isinstance(value, list) else [value]


def _posted(values: dict[str, object]) -> _Form:
    """The form a browser posts back of the values console.forms.form_of_entry filled it with."""
    return _Form({name: value if isinstance(value, list) else ("on" if value is True else "" if value is False
                                                               else str(value)) for name, value in values.items()})


def test_an_entry_saved_from_the_form_keeps_its_items_masking_rules() -> None:
    """修改 had no masking rule input: saving an entry from the form (a summary corrected, or nothing changed) sent
    every item without its mask_rule, so version 2 masked 公民身份号码 and 姓名 wholly (full) where version 1 showed
    342322********0454, and every grant read that from its publication, unannounced."""
    from console import forms
    from frontproc import demo as dept

    entry = dept.social_insurance_entry("")
    assert any(item.mask_rule for item in entry.items)
    saved = forms.entry_from_form(_posted(forms.form_of_entry(entry)), entry.provider_department_code,
                                  entry.provider_name)
    assert [(i.machine_name, i.mask_rule) for i in saved.items] == [(i.machine_name, i.mask_rule) for i in entry.items]
    assert list(saved.items) == list(entry.items)


def test_an_entry_of_more_items_than_the_forms_first_rows_is_saved_whole() -> None:
    """The 修改 form had 8 item rows whatever the entry: one of 12 items was shown with 8 and saved with 8, the other
    4 dropped from its new version (and from every grant that named them, once published) without a word."""
    from console import forms
    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2

    entry = dept.social_insurance_entry("")
    entry.items.extend(catalog_pb2.DataItem(name=f"补充信息{n}", machine_name=f"extra_{n}",
                                            data_type=catalog_pb2.DATA_TYPE_DATE) for n in range(12 - len(entry.items)))
    values = forms.form_of_entry(entry)
    assert forms.item_rows(values) == 14  # every item, and two blank rows to add one
    saved = forms.entry_from_form(_posted(values), entry.provider_department_code, entry.provider_name)
    assert [item.machine_name for item in saved.items] == [item.machine_name for item in entry.items]
    assert forms.item_rows({}) == forms.ITEM_ROWS


def test_the_audit_page_says_how_far_an_export_got() -> None:
    """An export is recorded before its first row leaves: the 审计 page said 平台未能答复 for a download its caller
    cancelled after a page had left, and 已答复 for one that had not ended. It now says how each ended and what
    left (the closing record's rows_sent, pages_sent); other accesses, and an export refused before any row, as
    before."""
    from govshare.query.v1 import audit_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    ended = timestamp_pb2.Timestamp(seconds=1_800_000_000)
    accesses = [
        audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_FAILED, failure_reason="CANCELLED",
                               end_time=ended, rows_sent=500, pages_sent=1),
        audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_ANSWERED, end_time=ended,
                               rows_sent=1200, pages_sent=3),
        audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_ANSWERED),
        audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_FAILED,
                               failure_reason="INTERRUPTED", end_time=ended),
        audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_DENIED),
        audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_FAILED, failure_reason="CANCELLED"),
        audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_NOT_FOUND,
                               failure_reason="RECORD_NOT_FOUND"),
        audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_NOT_FOUND,
                               failure_reason="RESOURCE_NOT_FOUND"),
        # A lookup of a person's accesses by a system that is no portal: DenyReason has no value for it.
        audit_pb2.AccessRecord(operation="SubjectLookup", result=audit_pb2.ACCESS_RESULT_DENIED,
                               failure_reason="NOT_A_SUBJECT_ACCESS_PORTAL"),
    ]
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, filters={},
        resource="", accesses=accesses, dept_names={}, res_names={}, item_names={}, next_token="", problem=None,
        events=[], events_next="", events_problem=None)
    results = re.findall(r"<td>([^<]*)</td></tr>", page)
    assert results == ["下载中止（调用方取消或超时）：已发送 500 行（1 页）", "已完整下载：已发送 1200 行（3 页）",
                       "已准许，未记录结束（可能仍在下载，或服务中断）",
                       "下载中断（承担下载的平台服务进程异常停止）：已发送行数未知", "拒绝", "失败",
                       "库无", "资源不存在",
                       "拒绝（非经授权的个人查询门户：该业务系统无权查询个人被访问记录）"], results
    # A portal's lookup of a person's accesses is named in Chinese, as every other operation is.
    assert "<td>个人被访问记录查询</td>" in page and "SubjectLookup</td>" not in page
    # Every other result in the words of the month's feedback (其中已应答…), not 已答复 (an application's reply),
    # 无记录, 请求无效 or 平台未能答复 as the page said.
    assert list(labels.ACCESS_RESULT.values()) == ["已应答", "库无", "拒绝", "无效请求", "失败"]
    # An export whose process stalled past its lease, another having closed it interrupted: its own end, in words.
    from console.app import access_result
    stalled = audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_FAILED,
                                     failure_reason="LEASE_LAPSED", end_time=ended, rows_sent=300, pages_sent=1)
    assert access_result(stalled) == "下载中止（平台服务进程停顿过久，下载已由其他进程记为中断）：已发送 300 行（1 页）"


def test_the_audit_page_says_why_an_access_was_refused() -> None:
    """Every refused access was listed 拒绝 and nothing more, though each record keeps its deny_reason: the
    审计员 tracing a business system whose secret leaked could not tell the attempts made with its revoked token
    (CREDENTIALS_REVOKED, refused since the system was disabled or its secret rotated) from its department's
    ordinary refusals (not granted, quota spent), nor find them on the page. Each reason is now said in Chinese;
    a record without one (written before the reason was kept) is 拒绝 as before."""
    from console.app import access_result
    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import audit_pb2

    refused = audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_DENIED,
                                     deny_reason=common_pb2.DENY_REASON_CREDENTIALS_REVOKED)
    assert access_result(refused) == "拒绝（令牌已失效：业务系统已停用或密钥已重置）"
    export = audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_DENIED,
                                    deny_reason=common_pb2.DENY_REASON_NOT_GRANTED)
    assert access_result(export) == "拒绝（未获授权）"
    assert access_result(audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_DENIED)) == "拒绝"
    # An export the system's disable cut after two pages (live on govshare up): how far it got, and why it stopped.
    cut = audit_pb2.AccessRecord(operation="Export", result=audit_pb2.ACCESS_RESULT_DENIED, rows_sent=1000,
                                 pages_sent=2, end_time=timestamp_pb2.Timestamp(seconds=1_800_000_000),
                                 deny_reason=common_pb2.DENY_REASON_CREDENTIALS_REVOKED)
    assert access_result(cut) == "下载中止（令牌已失效：业务系统已停用或密钥已重置）：已发送 1000 行（2 页）"
    # A BatchQuery answered in part keeps the cause of the keys its provider did not answer: said beside 已应答,
    # which alone read as every key answered; one answered whole is 已应答 as before.
    partly = audit_pb2.AccessRecord(operation="BatchQuery", result=audit_pb2.ACCESS_RESULT_ANSWERED,
                                    failure_reason="PROVIDER_UNAVAILABLE")
    assert access_result(partly) == "已应答（部分键未应答：提供部门前置机未应答）"
    assert access_result(audit_pb2.AccessRecord(operation="BatchQuery", result=audit_pb2.ACCESS_RESULT_ANSWERED)) \
        == "已应答"
    # Every reason the service gives has its words.
    named = {number for name, number in common_pb2.DenyReason.items() if number}
    assert named == set(labels.DENY_REASON), named ^ set(labels.DENY_REASON)


def test_enabling_a_system_asks_first_and_warns_of_a_secret_not_reset() -> None:
    """业务系统's 启用 re-enabled at a click, with no question, though 停用 asks: an administrator who disabled a
    system because its secret leaked, and enabled it again before the department had reset the secret (the
    console cannot: RotateSystemSecret is the authority's 管理员's, by REST, docs/operations.md), handed the system
    back to whoever held the leaked secret. 启用 now asks, saying so, and who resets the secret (a disabled system
    gets no token to rotate its own)."""
    from govshare.authorization.v1 import directory_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    system = directory_pb2.System(id="sys-0123456789abcdef", name="低保审核系统", department_code="11110100MB0000007N",
                                  disabled=True, create_time=timestamp_pb2.Timestamp(seconds=1_800_000_000))
    page = console.templates.get_template("systems.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/systems",
        systems=[system], names={}, departments={}, department="", problem=None, params={}, next_token="",
        when=when)
    (button,) = re.findall(r'<button[^>]*value="enable"[^>]*>', page)
    assert 'data-confirm="确定启用业务系统 低保审核系统？' in button, button
    assert "密钥曾泄露" in button and "重置密钥" in button, button
    assert "共享主管部门的管理员通过平台接口重置密钥" in button and "该部门" not in button, button


def test_the_audit_page_counts_every_outcome_of_the_accesses_it_lists() -> None:
    """The 审计 page listed the accesses page by page and counted none: an auditor adding up a month's use of a
    resource turned every page. 资源使用统计 (GetUsageSummary over the same resource and days) counts each outcome
    the listing shows, in its Chinese words, and their sum, so the counts add up to the listing."""
    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import audit_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    usage = [audit_pb2.UsageRow(resource_code="101001/000001", department_code="11100000000000101X",
                                purpose=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, answered=5, denied=2, not_found=3,
                                invalid=1, failed=4)]
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, filters={}, resource="", accesses=[], usage=usage, usage_problem=None,
        dept_names={"11100000000000101X": "市民政局"}, res_names={}, item_names={}, next_token="", problem=None,
        events=[], events_next="", events_problem=None)
    table = page.split("资源使用统计", 1)[1].split("资源使用记录", 1)[0]
    headings = re.findall(r'<th scope="col">([^<]*)</th>', table)
    assert headings == ["资源", "使用部门", "用途", "已应答", "拒绝", "库无", "无效请求", "失败", "合计"], headings
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells[-6:] == ["5", "2", "3", "1", "4", "15"], cells
    assert "工作参考" in table and "市民政局" in table
    assert "各结果之和即记录条数" in table
    # A listing narrowed to one system, reason, result or grant lists fewer than the counts add up to: said so.
    for narrowed in ({"system": "sys-0123456789abcdef"}, {"reason": "12"}, {"result": "3"}, {"grant": "grt-1"}):
        page = console.templates.get_template("audit.html").render(
            request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
            period={"from": "", "to": ""}, filters=narrowed, resource="", accesses=[], usage=usage,
            usage_problem=None, dept_names={}, res_names={}, item_names={}, next_token="", problem=None, events=[],
            events_next="", events_problem=None)
        table = page.split("资源使用统计", 1)[1].split("资源使用记录", 1)[0]
        assert "各结果之和即记录条数" not in table and "条数可少于统计之和" in table, narrowed
    empty = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, filters={}, resource="", accesses=[], usage=[], usage_problem=None,
        dept_names={}, res_names={}, item_names={}, next_token="", problem=None, events=[], events_next="",
        events_problem=None)
    assert "所选期间没有使用记录。" in empty


def test_the_audit_page_masks_the_id_numbers_a_declared_purpose_names() -> None:
    """The 审计 page shows no access's key, but a department's declared purpose often names the case's person
    ('低保家庭核查 户主<ID number>'): the number was shown whole. It is masked as the persons' view masks it (in
    any form typed: grouped, full width); a 统一社会信用代码 is kept (an entity's code is public). So is a mobile
    number ('电话13812345678'), which the page showed whole; a longer run of digits (a 文号) is none."""
    from govshare.query.v1 import audit_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    number = "11010519491231002X"
    typed = number.translate({code: code + 0xFEE0 for code in range(0x30, 0x3A)})
    access = audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_ANSWERED,
                                    purpose_text=f"低保家庭核查 户主{number} 另{typed[:6]} {typed[6:14]} {typed[14:]} "
                                                 "单位91350100M000100Y8 电话13812345678、１３７１２３４５６７８ "
                                                 "文号2026013812345678")
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, filters={},
        resource="", accesses=[access], dept_names={}, res_names={}, item_names={}, next_token="", problem=None,
        events=[], events_next="", events_problem=None)
    assert ("低保家庭核查 户主110105********002X 另110105********002X 单位91350100M000100Y8 "
            "电话138****5678、137****5678 文号2026013812345678") in page
    assert number not in page and "1949" not in page and "电话13812345678" not in page


def test_the_audit_page_says_which_idp_account_a_sign_in_bound_the_person_to() -> None:
    """The first OIDC sign-in binds the person to the IdP account (iss, sub) they must sign in from after; its log
    entry read 成功 like any other, so the authority's 审计员 tracing 统一身份认证账号与绑定账号不一致 could not find
    when, or to which account, the person was bound. The entry says it; another sign-in says nothing more."""
    from govshare.authorization.v1 import admin_log_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    bound = {"method": "oidc", "oidc_bound": {"issuer": "https://idp.example/realms/gov", "subject": "f3b1-77"}}
    events = [admin_log_pb2.AdminEvent(seq=2, action="session.sign_in", result="OK",
                                       details_json=json.dumps({"method": "oidc"})),
              admin_log_pb2.AdminEvent(seq=1, action="session.sign_in", result="OK", details_json=json.dumps(bound))]
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, filters={},
        resource="", accesses=[], dept_names={}, res_names={}, item_names={}, next_token="", problem=None,
        events=events, events_next="", events_problem=None)
    results = re.findall(r'<span title="OK">([^<]*)</span>', page)
    assert results == ["成功", "成功（首次登录，已绑定统一身份认证账号 f3b1-77）"], results


def test_the_audit_page_says_what_an_unlock_lifted_and_why_an_idp_binding_was_reset() -> None:
    """person.unlock read 成功 whether it ended a lock or lifted nothing, and an IdP binding's reset had no reason
    on the page the 审计员 reads: each says it now."""
    from govshare.authorization.v1 import admin_log_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    entries = [("person.unlock", {"locked_until": "2026-12-03T06:15:00+00:00", "failed_attempts": 0}),
               ("person.unlock", {"locked_until": None, "failed_attempts": 2}),
               ("person.unlock", {"locked_until": None, "failed_attempts": 0}),
               ("person.reset_idp_binding", {"reason": "统一身份认证账号已重建", "issuer": "https://idp.example",
                                             "subject": "f3b1-77"})]
    events = [admin_log_pb2.AdminEvent(seq=len(entries) - n, action=action, result="OK", details_json=json.dumps(d))
              for n, (action, d) in enumerate(entries)]
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, filters={},
        resource="", accesses=[], dept_names={}, res_names={}, item_names={}, next_token="", problem=None,
        events=events, events_next="", events_problem=None)
    results = re.findall(r'<span title="OK">([^<]*)</span>', page)
    assert results == ["成功（解除了至 2026-12-03 14:15:00 的锁定）", "成功（账号未锁定，清除了 2 次登录失败）",
                       "成功（账号未锁定，无需解除）",
                       "成功（原绑定账号 f3b1-77；原因：统一身份认证账号已重建）"], results


def test_the_audit_page_lists_the_beijing_days_asked_for() -> None:
    """The 审计 page filtered by resource alone: an auditor asked for a month's accesses (the supervision period,
    Beijing days) could only page back from now. Its 起始日期 and 截止日期 are Beijing days, the last included: the
    first day from its Beijing midnight (16:00 UTC the day before), to the midnight after the last (a leap day,
    a month's last second included); wrong dates are said beside them, in Chinese, before any call."""
    times, errors = forms.audit_period("2024-02-29", "2024-02-29")
    assert errors == {}
    assert (times["start_time"].ToJsonString(), times["end_time"].ToJsonString()) == (
        "2024-02-28T16:00:00Z", "2024-02-29T16:00:00Z")
    times, _ = forms.audit_period("", "2026-11-30")
    assert list(times) == ["end_time"] and times["end_time"].ToJsonString() == "2026-11-30T16:00:00Z"
    assert forms.audit_period("", "") == ({}, {})
    assert forms.audit_period("2026-02-30", "2026-03-01")[1] == {
        "from": "没有这一天：2026 年 2 月 30 日不是实有的日期，请核对。"}
    assert forms.audit_period("2026-03-02", "2026-03-01")[1] == {"to": "截止日期不能早于起始日期。"}
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={"to": "截止日期不能早于起始日期。"},
        nav=[], current="/audit", period={"from": "2026-03-02", "to": "2026-03-01"},
        filters={"from": "2026-03-02", "to": "2026-03-01"}, resource="", accesses=[], dept_names={}, res_names={},
        item_names={}, next_token="tok", problem=None, events=[], events_next="", events_problem=None)
    assert 'name="from" type="date" value="2026-03-02"' in page and "截止日期不能早于起始日期。" in page
    assert re.search(r'href="[^"]*from=2026-03-02[^"]*"', page), "the next page keeps the dates"

def test_the_audit_page_lists_one_systems_calls_and_one_refusal_reason() -> None:
    """An 审计员 tracing a leaked system secret could filter the 审计 page by using department, not by the system
    that called nor by why calls were refused (its revoked tokens' tries): a busy department's page held none of the
    system's calls. 系统标识 (checked before any call, in Chinese) and 拒绝原因 (the reasons the page already says
    beside 拒绝) are now filters, kept by the pager; each access's system links to its calls."""
    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import audit_pb2

    system = "sys-0123456789abcdef"
    assert forms.system_id_error(system) == {} and forms.system_id_error("") == {}
    assert forms.system_id_error("psn-0123456789abcdef") == {}
    assert forms.system_id_error("民政局系统") == {
        "system": "系统标识应为 sys- 加小写字母和数字，如使用记录“系统”一列所列。"}
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    revoked = common_pb2.DENY_REASON_CREDENTIALS_REVOKED
    accesses = [audit_pb2.AccessRecord(operation="Query", system_id=system, result=audit_pb2.ACCESS_RESULT_DENIED,
                                       deny_reason=revoked)]
    filters = {"system": system, "reason": str(revoked)}
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, grant="", system=system, reason=revoked, filters=filters, resource="",
        accesses=accesses, dept_names={}, res_names={}, item_names={}, next_token="tok", problem=None, events=[],
        events_next="", events_problem=None)
    assert '<label for="f-system">系统标识</label>' in page and f'name="system" value="{system}"' in page
    assert '<label for="f-reason">拒绝原因</label>' in page
    assert f'<option value="{revoked}" selected>令牌已失效：业务系统已停用或密钥已重置</option>' in page
    assert page.count("<option value=") == len(labels.DENY_REASON) + len(labels.ACCESS_RESULT) + 2
    assert re.search(f'href="[^"]*system={system}[^"]*reason={revoked}[^"]*token', page), "the pager keeps them"
    assert f'<a href="/audit?system={system}"' in page


def test_a_refusal_reason_with_another_outcome_is_said_wrong_beside_the_reason() -> None:
    """拒绝原因 with 结果 已应答 listed nothing (only refusals have a reason), which read as "no such access"; the
    service now refuses the pair, and the page says why beside the reason, in Chinese, before any call."""
    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import audit_pb2

    revoked, denied = common_pb2.DENY_REASON_CREDENTIALS_REVOKED, labels.DENIED_RESULT
    said = forms.reason_error(revoked, audit_pb2.ACCESS_RESULT_ANSWERED, denied, labels.ACCESS_RESULT[denied])
    assert said == {"reason": "拒绝原因只用于结果为“拒绝”的访问：请把结果选为“拒绝”或“全部结果”，或不选拒绝原因。"}
    for reason, result in ((revoked, denied), (revoked, 0), (0, audit_pb2.ACCESS_RESULT_ANSWERED)):
        assert forms.reason_error(reason, result, denied, labels.ACCESS_RESULT[denied]) == {}
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors=said, nav=[], current="/audit",
        period={"from": "", "to": ""}, grant="", system="", reason=revoked, result=audit_pb2.ACCESS_RESULT_ANSWERED,
        filters={}, resource="", accesses=[], dept_names={}, res_names={}, item_names={}, next_token="",
        problem=None, events=[], events_next="", events_problem=None)
    assert '<div class="field invalid"><label for="f-reason">拒绝原因</label>' in page
    assert said["reason"] in page


def test_the_audit_page_names_each_accesss_grant_and_lists_one_grants_accesses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The 审计 page listed who read what and why, not under which grant: an auditor checking a conditional sharing
    could not go from an access to its grant's application (its approver and conditions), nor list a grant's
    accesses before it is revoked. Each access now names its grant, linked to the grant's application (through
    /grants/view) and to the accesses under it (授权编号, checked before any call); one allowed without a grant
    says so; the provider's persons find the same listing from /grants."""
    import asyncio
    from types import SimpleNamespace

    from govshare.authorization.v1 import sharing_pb2
    from govshare.query.v1 import audit_pb2

    grant_id = "grt-" + "0123456789abcdef" * 2
    assert forms.grant_id_error(grant_id) == {} and forms.grant_id_error("") == {}
    assert forms.grant_id_error("app-1") == {
        "grant": "授权编号应为 grt- 加 32 位小写十六进制字符，如“授权”页或使用记录中所列。"}
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    accesses = [audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_ANSWERED, grant_id=grant_id),
                audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_ANSWERED),
                audit_pb2.AccessRecord(operation="Query", result=audit_pb2.ACCESS_RESULT_DENIED)]
    page = console.templates.get_template("audit.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/audit",
        period={"from": "", "to": ""}, grant=grant_id, filters={"grant": grant_id}, resource="", accesses=accesses,
        dept_names={}, res_names={}, item_names={}, next_token="tok", problem=None, events=[], events_next="",
        events_problem=None)
    assert f'<a href="/grants/view?id={grant_id}"' in page and f'<a href="/audit?grant={grant_id}">' in page
    assert page.count("无需授权（无条件共享或基础信息项，依目录）") == 1
    assert f'name="grant" value="{grant_id}"' in page and re.search(f'href="[^"]*grant={grant_id}[^"]*token', page)
    assert re.findall(r"<td>([^<]*)</td></tr>", page) == ["已应答", "已应答", "拒绝"]  # the result stays last
    grant = sharing_pb2.Grant(id=grant_id, application_id="app-04c4", department_code="11110100MB0000001X",
                              resource_code="101001/000001", state=sharing_pb2.GRANT_STATE_ACTIVE)
    for person, linked in ((Person(username="p", display_name="李审批", department_code=PERSON.department_code,
                                   roles=("APPROVER",)), True),
                           (Person(username="u", display_name="王申请", department_code=grant.department_code,
                                   roles=("APPLICANT", "AUDITOR")), False)):
        shown = console.templates.get_template("grants.html").render(
            request=None, session=None, person=person, csrf="", flash="", errors={}, nav=[], current="/grants",
            may=lambda *_a: True, grants=[grant], actions={grant_id: (False, False)}, unusable={}, names={},
            dept_names={}, res_names={}, next_token="", target="", typed={})
        assert (f'<a href="/audit?grant={grant_id}">本授权下的使用记录</a>' in shown) is linked

    async def answered(*_args: object) -> tuple[object, None]:
        return sharing_pb2.GetGrantResponse(grant=grant), None

    monkeypatch.setattr(pages, "_call", answered)
    console_stub = SimpleNamespace(services=SimpleNamespace(sharing=SimpleNamespace(GetGrant=None)))
    response = asyncio.run(pages._grant_application(console_stub, None, None, grant_id))  # type: ignore[arg-type]
    assert (response.status_code, response.headers["location"]) == (303, "/applications/view?id=app-04c4")


def test_the_disputes_page_is_offered_to_the_reporters_applicant_with_what_they_may_read() -> None:
    """ListDisputes lets a 申请人 read the disputes their department reported (R-DSP-1), but 疑义与冲突 was not in
    their menu and /disputes answered 您的角色不能使用此页面: they could not follow the answer to a report. It is
    now theirs to read, and to send its report form only (the handler refuses their answer or resolution); their
    card shows the report whole, no answer form, and no conflicts section (ListConflicts is not theirs)."""
    from console.app import Session, holds, may, navigation
    from console.pages import CONFLICTS_SHOWN
    from govshare.query.v1 import dispute_pb2

    applicant = Person(username="civil.applicant", display_name="王申请", department_code="11110100MB0000001X",
                       roles=("APPLICANT",))
    session = Session(id="s", person=applicant, token="t", token_expires_at=0)
    assert may(session, "/disputes") and may(session, "/disputes", "POST")
    assert "/disputes" in dict(navigation(session)) and not holds(session, CONFLICTS_SHOWN)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    dispute = dispute_pb2.Dispute(id="d-1", resource_code="101001/000001", key="11010519491231002X", item="name",
                                  claimed_value="李小红", evidence="户口簿原件",
                                  reporter_department_code=applicant.department_code,
                                  provider_department_code=PERSON.department_code,
                                  state=dispute_pb2.DISPUTE_STATE_OPEN)
    page = console.templates.get_template("disputes.html").render(
        request=None, session=session, person=applicant, csrf="", flash="", errors={}, nav=[], current="/disputes",
        may=lambda path, method="GET": may(session, path, method), holds=lambda *roles: bool(
            set(roles) & set(applicant.roles)), disputes=[dispute], item_names={}, dept_names={}, res_names={},
        next_token="", conflicts=[], conflicts_next="", problem=None, conflicts_problem=None, kind="", target="",
        typed={}, show_conflicts=False)
    assert "疑义 d-1" in page and "户口簿原件" in page and "待提供部门" in page and "答复疑义" not in page
    assert "数据冲突" not in page
    # The provider's step is 校核 (国发〔2016〕51号 Art. 15: 反馈提供部门予以校核), not 核实 as the page said.
    assert "待校核" in page and "校核答复" in page and "核实" not in page
    # Its deadline is the provider's 答复期限, as an application's is (not a bare 期限 beside the 有效期 of grants).
    assert " · 答复期限 " in page and " · 期限 " not in page
    assert list(labels.DISPUTE_STATE.values()) == ["待校核", "已更正", "经校核无误"]
    assert labels.ADMIN_ACTION["dispute.confirmed"] == "疑义校核：无误"


def test_a_conflicts_form_posts_to_the_page_of_conflicts_it_is_on() -> None:
    """A conflict's 解决 form posted to /disputes, whose conflicts are their first page: a 编目员 whose note was
    refused beside its field (too long, a control character) on a later page got the first page back, without
    that conflict's row, the note typed and its error (there is no GetConflict to fetch it, as a dispute's is).
    The form now posts to the page it is on (its c_token), which comes back with the row as it was sent."""
    from console.app import Session, holds, may
    from govshare.foundation.v1 import foundation_pb2

    officer = Person(username="police.officer", display_name="赵编目", department_code=PERSON.department_code,
                     roles=("DATA_OFFICER",))
    session = Session(id="s", person=officer, token="t", token_expires_at=0)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    conflict = foundation_pb2.Conflict(id=42, dataset="population", key="k", item="name", authoritative_value="甲",
                                       other_value="乙", other_source_department_code="11110100MB0000001X",
                                       state=foundation_pb2.CONFLICT_STATE_OPEN,
                                       authoritative_department_code=officer.department_code)

    def page(token: str) -> str:
        return console.templates.get_template("disputes.html").render(
            request=None, session=session, person=officer, csrf="", flash="", nav=[], current="/disputes",
            may=lambda path, method="GET": may(session, path, method),
            holds=lambda *roles: holds(session, roles), disputes=[], item_names={}, dept_names={}, res_names={},
            next_token="", conflicts=[conflict], conflicts_next="", conflicts_token=token, problem=None,
            conflicts_problem=None, kind="conflict", target="42", typed={"note": "核对"},
            errors={"note": "不能超过 1000 个字"}, show_conflicts=True)

    later = page("42/a b")
    assert 'action="/disputes?c_token=42/a%20b"' in later
    assert 'value="核对"' in later and "不能超过 1000 个字" in later
    assert '<form method="post" action="/disputes">' in page("")


def test_a_code_used_to_sign_in_refused_on_change_password_says_to_wait_for_the_next() -> None:
    """A code is accepted once: a person led to 修改密码 right after signing in (an account an administrator made)
    typed the code their authenticator still showed, was refused TOTP_INVALID, and read 请输入身份验证器当前显示的
    6 位数字 — the very code refused, again and again, each counted toward the lock. The form and both refusals
    (修改密码 and 登录) say a code is used once and to wait for the next."""
    from starlette.requests import Request

    from console import password as password_page
    from console.app import Session
    from console.labels import ADMIN_RESULT
    from console.signin import SIGN_IN_MESSAGES

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    session = Session(id="s", person=PERSON, token="t", token_expires_at=0)
    request = Request({"type": "http", "method": "POST", "path": "/password", "headers": [], "query_string": b"",
                       "console.session": session})
    refused = password_page._refusal(console, request, Problem("this authenticator code was already used",
                                                               reason="TOTP_REUSED",
                                                               code=grpc.StatusCode.UNAUTHENTICATED))
    page = refused.body.decode()
    assert refused.status_code == 400 and "当前显示的" not in page
    # Its own reason since the replay counts nothing: said as a code used, not as a wrong one.
    reused = SIGN_IN_MESSAGES["TOTP_REUSED"]
    assert "刚才已经使用过" in reused and "不计入登录失败次数" in reused
    assert SIGN_IN_MESSAGES["TOTP_REUSED"] in page and "请等身份验证器显示下一个 6 位数字" in page
    assert "请等它显示下一个 6 位数字" in SIGN_IN_MESSAGES["TOTP_INVALID"]  # a code that was wrong may be that one too
    assert ADMIN_RESULT["TOTP_REUSED"] == "失败：动态口令已使用过（不计入锁定）"
    assert "登录时用过的口令不能再用" in page  # the field's hint, before any refusal too
    # A code older than one accepted may never have been used: not said as used, beside the field all the same.
    older = password_page._refusal(console, request, Problem("a later authenticator code than this one was already "
                                                             "accepted", reason="TOTP_SUPERSEDED",
                                                             code=grpc.StatusCode.UNAUTHENTICATED)).body.decode()
    superseded = SIGN_IN_MESSAGES["TOTP_SUPERSEDED"]
    assert "使用过" not in superseded and "更新的动态口令" in superseded and superseded in older
    assert ADMIN_RESULT["TOTP_SUPERSEDED"] == "失败：动态口令早于已接受的口令（不计入锁定）"


def test_a_sign_in_whose_totp_secret_the_platform_cannot_read_says_to_have_it_reset() -> None:
    """A person whose stored TOTP secret no listed GOVSHARE_PERSON_SECRET_KEY opens (the key was dropped, an older
    backup restored, or a pod of a rotation's old content) was refused FAILED_PRECONDITION TOTP_SECRET_UNREADABLE,
    and the sign-in page said 登录未完成，请稍后重试。: no retry helps, and nothing said the administrator resets it."""
    from console.signin import _refusal
    from services.runtime.errors import failed_precondition, to_status

    status = to_status(failed_precondition("TOTP_SECRET_UNREADABLE", "this account's second factor cannot be "
                                           "checked on this platform: ask an administrator to reset your TOTP "
                                           "(ResetPersonTotp)"), "authorization")
    refused = _refusal(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(),
                                            grpc.aio.Metadata(*status.trailing_metadata), status.details))
    assert "请联系管理员重置您的动态口令" in refused.message and "重试也不能登录" in refused.message, refused.message


def test_the_sign_in_page_says_what_to_do_when_the_authenticator_is_lost() -> None:
    """A person whose phone was lost or replaced met 动态口令 and nothing else: the way back (an administrator resets
    the TOTP, then the person enrols a new authenticator at the sign-in page) was written nowhere they could read,
    so they tried codes until the account locked. The sign-in page says it beside the code's field."""
    from starlette.requests import Request

    from console.app import login_page

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    request = Request({"type": "http", "method": "GET", "path": "/login", "headers": [], "query_string": b"",
                       "console.session": None})
    page = login_page(console, request).body.decode()
    assert "手机丢失" in page and "管理员重置动态口令" in page and "自行绑定新的身份验证器" in page


def test_the_sign_in_page_takes_a_code_as_the_authenticator_groups_it() -> None:
    """Authenticator apps show the code as 123 456: typed or pasted into the field (maxlength 6) it was cut to
    123 45 and sent so (the form is novalidate), a wrong code counted toward the lock, the field styled as invalid.
    The field takes the code with one blank between its groups (the platform does not read it), and still styles
    anything else as invalid."""
    import re

    from starlette.requests import Request

    from console.app import login_page

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    request = Request({"type": "http", "method": "GET", "path": "/login", "headers": [], "query_string": b"",
                       "console.session": None})
    page = login_page(console, request).body.decode()
    field = re.search(r'<input id="f-totp"[^>]*>', page)
    assert field is not None
    pattern, length = re.search(r'pattern="([^"]*)"', field[0]), re.search(r'maxlength="(\d+)"', field[0])
    assert pattern is not None and length is not None
    for code in ("123456", "123 456", "１２３　４５６"):  # the browser matches the whole value, as fullmatch
        assert re.fullmatch(pattern[1], code) and len(code) <= int(length[1]), code
    for wrong in ("12345", "1234567", "12 3456", "abc def"):
        assert not re.fullmatch(pattern[1], wrong), wrong


def test_the_home_page_lists_the_disputes_awaiting_the_department_by_item_name() -> None:
    """首页's 待处理的疑义 listed every open dispute the person reads: a 审批人 of the reporting department was told
    to handle (去处理) the reports their own department made, which only the provider answers, and each read its
    item by machine name (name). It lists those awaiting the person's department (reported by others), named
    姓名."""
    from console.pages import awaiting_answer
    from govshare.query.v1 import dispute_pb2

    social, police = "11110100MB0000006K", PERSON.department_code
    theirs = dispute_pb2.Dispute(id="d-1", resource_code="101001/000001", item="name",
                                 reporter_department_code=social, provider_department_code=police)
    ours = dispute_pb2.Dispute(id="d-2", resource_code="101001/000001", item="name",
                               reporter_department_code=police, provider_department_code=social)
    assert [d.id for d in awaiting_answer([theirs, ours], police)] == ["d-1"]
    assert [d.id for d in awaiting_answer([theirs, ours], "11110100MB00000014")] == ["d-1", "d-2"]  # the authority
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    page = console.templates.get_template("home.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/",
        may=lambda *_a: True, show_disputes=True, disputes=[(theirs, 3)], warn=2,
        item_names={"101001/000001": {"name": "姓名"}},
        dept_names={}, res_names={}, due=[], reviews=[], coordinate=[], overdue=[], unanswered=[], conflicts=[])
    assert '<span title="name">姓名</span>' in page
    assert " · 答复期限 " in page and " · 期限 " not in page


def test_an_administrators_own_page_offers_no_reset_of_their_own_credentials() -> None:
    """The person page offered an administrator 重置密码, 重置动态口令 (and now 解除统一身份认证绑定) on their own
    account, which the service refuses (a borrowed session could keep the account), and the refusal was shown as
    此项不符合要求… with the service's English. Their own page says what to do instead; the refusals read in Chinese."""
    from console.admin import ROLE_CHOICES, STATES
    from govshare.authorization.v1 import persons_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    me = persons_pb2.Person(id="psn-0000000000000001", username="wang.admin", display_name="王管理",
                            state=persons_pb2.PERSON_STATE_ACTIVE, local_account=True, idp_subject="f3b1-77",
                            idp_issuer="https://idp.example/realms/gov")

    def page(viewer: str) -> str:
        return console.templates.get_template("person.html").render(
            request=None, session=None, person=Person(username=viewer, display_name="", department_code=""),
            csrf="", flash="", errors={}, nav=[], current="/persons", p=me, department="", role_labels=[],
            roles=ROLE_CHOICES, states=STATES, locked=False)

    own, other = page("wang.admin"), page("li.admin")
    for action in ("reset_password", "reset_totp", "reset_idp_binding"):
        assert f'value="{action}"' not in own and f'value="{action}"' in other
    assert "请在“修改密码”中修改" in own
    assert field_sentence("an administrator cannot reset their own password: change your password with ChangePassword "
                          "(it asks the current one and a TOTP code); another administrator must reset it") == \
        "管理员不能重置自己的密码：请在“修改密码”中修改（需输入当前密码和动态口令）；忘记密码请由另一位管理员重置。"
    assert field_sentence("an administrator cannot reset their own TOTP secret: change your password with "
                          "ChangePassword (it asks the current one and a TOTP code); another administrator must "
                          "reset it").startswith("管理员不能重置自己的动态口令")


def test_a_session_ended_by_an_administrators_reset_says_so_not_expired() -> None:
    """A person whose password (or TOTP, or IdP binding) an administrator reset mid-session was told 登录已过期 and
    signed in again with the old password, each try counted toward their lock: the sign-in page now says the
    administrator reset it and to use the new one."""
    from console.app import ENDED_MESSAGES, login_redirect

    assert login_redirect(True, "CREDENTIALS_RESET").headers["location"] == "/login?ended=reset"
    assert "管理员已重置您的密码" in ENDED_MESSAGES["reset"] and "新密码" in ENDED_MESSAGES["reset"]
    assert login_redirect(True, "SESSION_ENDED").headers["location"] == "/login?expired=1"


def test_a_password_change_cut_by_an_administrators_reset_says_so_not_expired() -> None:
    """修改密码 while an administrator reset the person's password or TOTP is refused CREDENTIALS_CHANGED (the change
    not made, every session ended by the reset): the console sent the person to 登录已过期, as if their session had
    timed out, and they tried their old password again. It now says the administrator reset it."""
    import grpc

    from console.errors import Problem
    from console.pages import _refused

    problem = Problem("your password or authenticator was reset while you were changing it",
                      code=grpc.StatusCode.UNAUTHENTICATED, reason="CREDENTIALS_CHANGED")
    assert _refused(None, None, problem).headers["location"] == "/login?ended=reset"  # type: ignore[arg-type]


def test_the_home_pages_disputes_say_the_working_days_left() -> None:
    """首页's 待处理的异议 said 期限 and, once past it, 已逾期: a dispute due tomorrow read like one due next week, and
    one late by a day like one late by a month, where the applications beside them say 仅剩 N 个工作日 and 已逾期 N
    个工作日. The disputes now say it likewise (their answer is due in 5 working days, a tighter term)."""
    from govshare.query.v1 import dispute_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    disputes = [(dispute_pb2.Dispute(id=f"d-{n}", resource_code="101001/000001", item="name"), left)
                for n, left in enumerate((-3, 1, 4))]
    page = console.templates.get_template("home.html").render(
        request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/",
        may=lambda *_a: True, show_disputes=True, disputes=disputes, warn=2, item_names={},
        dept_names={}, res_names={}, due=[], reviews=[], coordinate=[], overdue=[], unanswered=[], conflicts=[])
    said = next(line for line in page.splitlines() if "d-0" in line)
    assert '<strong class="late">已逾期 3 个工作日</strong>' in said
    assert '<strong class="late">仅剩 1 个工作日</strong>' in said and "剩余 4 个工作日" in said


def test_a_users_challenge_of_a_providers_data_is_named_yiyi_as_the_rules_name_it() -> None:
    """国发〔2016〕51号 Art. 15 (and the municipal rules' Art. 20) call a using department's challenge of shared data
    疑义 (使用部门对获取的共享信息有疑义), and supervision's reports say 疑义数据, 疑义答复按时率; the console said
    异议 (a legal objection, another thing): its menu 异议与冲突, the home page's 待处理的异议, the cards, the
    report and answer forms, the audit page's actions, the supervision CSV's header, and docs/ naming the page. Every
    place a user reads now says 疑义."""
    from pathlib import Path

    from console.app import Session, navigation
    from console.errors import not_found_text

    root = Path(__file__).resolve().parents[2]
    readable = [*root.glob("console/**/*.py"), *root.glob("console/templates/*.html"), *root.glob("docs/*.md"),
                root / "services/supervision/reports.py", root / "services/query/disputes.py"]
    assert [str(p.relative_to(root)) for p in readable if "异议" in p.read_text(encoding="utf-8")] == []
    auditor = Person(username="authority.auditor", display_name="审计员", department_code="11110100MB00000014",
                     roles=("AUDITOR",))
    assert ("/disputes", "疑义与冲突") in navigation(Session(id="s", person=auditor, token="t", token_expires_at=0))
    assert not_found_text("dispute d-1 not found") == "疑义 d-1"
    assert labels.ADMIN_ACTION["dispute.report"] == "报告疑义数据"


async def test_the_supervision_page_and_its_export_name_the_indicators_as_the_reports_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The 监督 page's columns and its CSV/Excel header named the indicators in words of their own (目录按时更新,
    申请按时答复, 异议按时处理, 服务可用, 数据及时, 按用途使用), the month's and the year's reports others
    (目录更新按时率, 申请答复按时率, 疑义答复按时率, 服务可用率, 数据更新及时率, 按授权用途使用率): a supervisor
    matching the export with the report read six pairs of names for six rates. Both say the reports' names."""
    from types import SimpleNamespace

    from services.supervision.reports import INDICATORS

    evaluation = supervision_pb2.Evaluation(department_code=PERSON.department_code, score=90, indicators=[
        supervision_pb2.Indicator(name="dispute_on_time", numerator=1, denominator=2, rate=0.5, weight=15)])

    async def month_evaluations(*_args: object) -> tuple[list[object], None, dt.datetime]:
        return [evaluation], None, dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)  # before November's end

    async def departments(*_args: object) -> dict[str, str]:
        return {PERSON.department_code: "市公安局"}

    monkeypatch.setattr(pages, "_month_evaluations", month_evaluations)
    console = SimpleNamespace(names=SimpleNamespace(departments=departments))
    header, rows, _ = await pages._evaluation_table(console, SimpleNamespace(token="t"), 2026, 11)  # type: ignore[arg-type]
    assert header == ["部门代码", "部门名称", "综合评分", "目录更新按时率", "申请答复按时率", "疑义答复按时率",
                      "服务可用率", "数据更新及时率", "按授权用途使用率", "违规数", "数据截至（北京时间）",
                      "阶段性数据（计算时该月未结束）"], header
    assert header[3:-3] == list(INDICATORS.values()) and rows[0][5] == "50.0%", rows
    # November last computed on the 28th: the export says until when its rows count, and that they are partial.
    assert rows[0][-2:] == ["2026-11-28 11:00", "是"], rows
    page = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                   SessionStore(idle_seconds=600)).templates.get_template("supervision.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/supervision",
        year=2026, month=11, evaluations=[evaluation], dept_names={}, chart="", next_token="", problem=None,
        indicator_names=pages.INDICATORS)
    assert all(f'<th scope="col">{name}</th>' in page for name in INDICATORS.values()), page
    # The score and the violations too: the reports' 综合评分 (评分, 平均评分) and 违规数, not 得分 / 综合得分 / 违规.
    heads = re.findall(r'<th scope="col">([^<]*)</th>', page)
    assert heads[1] == "综合评分" and heads[-2:] == ["违规数", "部门报告（PDF）"] and "得分" not in page, heads


def test_a_terms_end_is_named_youxiaoqi_zhi_wherever_it_is_shown() -> None:
    """A grant's term (an application's requested one, a reply's, an adjustment's) was 使用期限至 on 申请使用,
    申请期限至 on 协调 (read as a deadline to apply), 期限 beside 答复期限 on an application's page, 期限至 in the
    history the services write, and 有效期至 on the decision forms and 授权: five names for one date, two of them
    mistakable for 答复期限. Every place says 有效期至 (its quota's hint already said 整个有效期内)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shown = [*root.glob("console/**/*.py"), *root.glob("console/templates/*.html"),
             *root.glob("services/authorization/*.py")]
    other = re.compile(r"使用期限|申请期限|(?<!有效)期限至|期限 / 次数")
    assert [str(p.relative_to(root)) for p in shown if other.search(p.read_text(encoding="utf-8"))] == []


def test_a_coordinated_applications_state_says_what_the_coordination_decided() -> None:
    """An application decided by the authority's coordination read 协调后准予 / 协调后不予 as its state (准予 or 不予
    what?), while its history and the 协调 page's buttons say 协调后准予共享 / 不予共享, the rules' 不予共享. The
    state says it as its history does."""
    from govshare.authorization.v1 import sharing_pb2

    assert labels.APPLICATION_STATE[sharing_pb2.APPLICATION_STATE_COORDINATED_GRANTED] == "协调后准予共享" \
        == labels.APPLICATION_EVENT["COORDINATED_GRANTED"]
    assert labels.APPLICATION_STATE[sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED] == "协调后不予共享" \
        == labels.APPLICATION_EVENT["COORDINATED_REFUSED"]


def test_the_department_that_applies_is_named_the_using_department() -> None:
    """The rules name the two parties of a 共享申请 提供部门 and 使用部门 (使用部门通过共享平台向提供部门提出申请); the
    console named the one that applies 申请部门 on 首页, 答复, 已办理的申请, an application's page (申请部门 / 提供部门)
    and in its messages, and 使用部门 on 授权 for the same department holding the grant; NOT_INVOLVED said only the
    申请部门 may see a grant. Everywhere it is now the 使用部门 (its person remains the 申请人, a role)."""
    from pathlib import Path

    from console.errors import _DENIED

    root = Path(__file__).resolve().parents[2]
    shown = [*root.glob("console/**/*.py"), *root.glob("console/templates/*.html")]
    assert [str(p.relative_to(root)) for p in shown if "申请部门" in p.read_text(encoding="utf-8")] == []
    assert "只有使用部门、提供部门和共享主管部门" in _DENIED["NOT_INVOLVED"]


def test_a_provisional_due_date_says_how_it_was_counted() -> None:
    """A dispute's (or an application's) provisional due date said 按周一至周五计算, though the count skips the
    statutory holidays the law dates (元旦, 清明, 劳动节, 国庆, and 除夕, 春节, 端午, 中秋 on the lunar calendar): a due
    date of 16 Feb 2027 after 春节 read as if 春节 had been counted. It now names what was skipped."""
    from govshare.query.v1 import dispute_pb2

    due = timestamp_pb2.Timestamp()
    due.FromDatetime(dt.datetime(2027, 2, 16, 15, 59, 59, tzinfo=dt.UTC))
    dispute = dispute_pb2.Dispute(id="d-2027", resource_code="101001/000001", item="name", due_time=due,
                                  due_time_provisional=True)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    page = console.templates.get_template("disputes.html").render(
        current="/disputes", disputes=[dispute], show_conflicts=False, next_token="", typed={}, request=None,
        session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], may=lambda *_a: True,
        holds=lambda *_a: False, warn=2, item_names={}, dept_names={}, res_names={}, names={})
    assert ("期限 2027-02-16（暂定：2027 年节假日安排尚未公布，按周一至周五计算，已扣除元旦、清明、劳动节、国庆节"
            "和除夕、春节、端午、中秋的法定假日；其余放假和调休以公布的安排为准，届时可能调整）") in page


def test_every_table_in_the_templates_has_a_caption() -> None:
    """The browser test walks the pages whose tables it can fill; a table only data brings (首页's 即将到期的授权,
    added beside the captioned ones without one) escaped it. Every <table> of every template opens with its
    <caption>."""
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "console" / "templates"
    uncaptioned = [f"{path.name}:{text[:match.start()].count(chr(10)) + 1}" for path in sorted(templates.glob("*.html"))
                   for text in [path.read_text(encoding="utf-8")]
                   for match in re.finditer(r"<table\b[^>]*>(?!\s*<caption)", text)]
    assert uncaptioned == []


def test_an_end_in_the_past_asks_for_today_or_later_as_the_form_takes_today() -> None:
    """The form reads an end date as the end of that day, so today is taken; the sentence said 必须是今天以后的日期
    (after today) and 请填写今天以后的日期, and a person wanting today's end looked for another day (found by
    console19)."""
    assert field_sentence("must be in the future") == "必须是今天或以后的日期。"
    assert field_sentence("must be in the future; revoke the grant instead") == "必须是今天或以后的日期。"
    assert field_sentence("is already past") == "所填的日期已经过去，请填写今天或以后的日期。"


def test_a_list_not_shown_has_no_pager_saying_it_ended() -> None:
    """With the catalog (or supervision) service down, 资源目录 and 监督 said 平台服务暂时不可用 and, under no list,
    已是最后一页, read as a list that had ended (found by console21). The pager is left out when the list was not
    shown; a list shown whole still says it ended."""
    from console.errors import Problem

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    common = dict(request=None, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[],
                  may=lambda *_a: True, dept_names={}, params={}, q="", next_token="")
    down = Problem("平台服务暂时不可用，请稍后重试。")
    catalog = console.templates.get_template("catalog.html")
    assert "已是最后一页" not in catalog.render(current="/catalog", problem=down, entries=[], **common)
    assert "已是最后一页" in catalog.render(current="/catalog", problem=None, entries=[], **common)
    supervision = console.templates.get_template("supervision.html")
    page = supervision.render(current="/supervision", problem=down, evaluations=[], year=2026, month=11, own=False,
                              **common)
    assert "平台服务暂时不可用" in page and "已是最后一页" not in page


def test_the_supervision_pages_two_pagers_each_keep_the_page_the_other_list_is_on() -> None:
    """监督 pages two lists, the month's evaluations and its violations: 下一页 of one took the other back to its first
    page (the 审计 page's pagers were fixed alike), so a supervisor reading the violations' second page beside the
    evaluations' third lost the evaluations they compared with, and the other way round."""
    import html
    import urllib.parse
    from types import SimpleNamespace

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    evaluation = supervision_pb2.Evaluation(department_code=PERSON.department_code, year=2026, month=11, score=90)
    violation = {"department_code": PERSON.department_code, "rule": "未向共享平台及时提供共享信息",
                 "article": "第二十四条", "subject": "资源：101001/000001", "evidence": "记录数：0"}
    request = SimpleNamespace(query_params={"year": "2026", "month": "11", "page_token": "E2", "v_token": "V2"},
                              url=SimpleNamespace(path="/supervision"))
    page = console.templates.get_template("supervision.html").render(
        request=request, session=None, person=PERSON, csrf="", flash="", errors={}, nav=[], current="/supervision",
        year=2026, month=11, evaluations=[evaluation], dept_names={}, chart="", next_token="E3", problem=None,
        own=False, indicator_names=pages.INDICATORS, indicator_rate=pages.indicator_rate, until="",
        violations=[violation], violations_next="V3", violations_problem=None)

    def link(of: str) -> dict[str, list[str]]:
        nav = page.split(f'aria-label="{of}分页"', 1)[1].split("</nav>", 1)[0]
        found = re.search(r'href="\?([^"]*)"', nav)
        assert found, nav
        return urllib.parse.parse_qs(html.unescape(found[1]))

    assert link("评估结果") == {"year": ["2026"], "month": ["11"], "v_token": ["V2"], "page_token": ["E3"]}
    assert link("违规情况") == {"year": ["2026"], "month": ["11"], "page_token": ["E2"], "v_token": ["V3"]}


def test_the_disputes_pages_two_pagers_and_a_conflicts_form_keep_the_page_the_other_list_is_on() -> None:
    """疑义与冲突 pages two lists, the disputes and the conflicts (a 审批人, 编目员, 审核员 or 审计员 sees both):
    下一页 of one took the other back to its first page, as 监督's and 审计's pagers did before they were fixed,
    and a conflict's 解决 form, posted to its page of conflicts, brought the disputes back to their first page."""
    import html
    import urllib.parse
    from types import SimpleNamespace

    from console.app import Session, holds, may
    from govshare.foundation.v1 import foundation_pb2
    from govshare.query.v1 import dispute_pb2

    officer = Person(username="police.officer", display_name="赵编目", department_code=PERSON.department_code,
                     roles=("DATA_OFFICER",))
    session = Session(id="s", person=officer, token="t", token_expires_at=0)
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    conflict = foundation_pb2.Conflict(id=42, dataset="population", key="k", item="name", authoritative_value="甲",
                                       other_value="乙", other_source_department_code="11110100MB0000001X",
                                       state=foundation_pb2.CONFLICT_STATE_OPEN,
                                       authoritative_department_code=officer.department_code)
    dispute = dispute_pb2.Dispute(id="dsp-1", resource_code="101001/000001", item="name", key="k",
                                  state=dispute_pb2.DISPUTE_STATE_OPEN,
                                  reporter_department_code="11110100MB0000001X",
                                  provider_department_code="11110100MB0000002Y")
    request = SimpleNamespace(query_params={"page_token": "D2", "c_token": "C2"},
                              url=SimpleNamespace(path="/disputes"))
    page = console.templates.get_template("disputes.html").render(
        request=request, session=session, person=officer, csrf="", flash="", nav=[], current="/disputes",
        may=lambda path, method="GET": may(session, path, method),
        holds=lambda *roles: holds(session, roles), disputes=[dispute], item_names={}, dept_names={}, res_names={},
        next_token="D3", conflicts=[conflict], conflicts_next="C3", conflicts_token="C2", problem=None,
        conflicts_problem=None, kind="", target="", typed={}, errors={}, show_conflicts=True)

    def link(of: str) -> dict[str, list[str]]:
        nav = page.split(f'aria-label="{of}分页"', 1)[1].split("</nav>", 1)[0]
        found = re.search(r'href="\?([^"]*)"', nav)
        assert found, nav
        return urllib.parse.parse_qs(html.unescape(found[1]))

    assert link("疑义") == {"c_token": ["C2"], "page_token": ["D3"]}
    assert link("数据冲突") == {"page_token": ["D2"], "c_token": ["C3"]}
    action = re.search(r'<form method="post" action="/disputes\?([^"]*)">\s*<input type="hidden" name="csrf_token"'
                       r'[^>]*><input type="hidden" name="kind" value="conflict">', page)
    assert action and urllib.parse.parse_qs(html.unescape(action[1])) == {"page_token": ["D2"], "c_token": ["C2"]}


def test_a_code_or_username_taken_is_said_in_chinese_with_where_an_earlier_sending_may_have_put_it() -> None:
    """新建目录 with a code already used, 新建人员 with a username already used read "已存在相同的记录，请换一个代码或
    名称：catalog entry 101001/000001 already exists", in English, and told to change it, though the likeliest
    reason after 平台服务暂时不可用 on the form is that the first sending saved it (the person then made again under
    another username, the first one's password never shown). Each is said in Chinese, with where to look."""
    from console.errors import problem_of
    from services.runtime.errors import already_exists, to_status

    for what, said in (("catalog entry 101001/000001", "信息资源代码 101001/000001 已被另一条目录使用"),
                       ("a person with username 'zhang.san'", "用户名 zhang.san 已被使用")):
        status = to_status(already_exists(what), "catalog")
        problem = problem_of(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
            *status.trailing_metadata), status.details))
        assert problem.message.startswith(said) and "already exists" not in problem.message, problem.message
        assert "可能已经" in problem.message


def test_a_sign_in_refused_for_a_field_says_so_in_chinese_naming_the_fields_label() -> None:
    """A sign-in refused for one of its fields with no sentence of its own was shown as the service sent it:
    请检查“username”：must be at most 64 characters, the field's protobuf name and English words on a Chinese page.
    It is now the field as the page labels it, and the console's Chinese sentence for the violation."""
    from console.signin import _refusal
    from services.runtime.errors import FieldViolation, invalid_argument, to_status

    status = to_status(invalid_argument([FieldViolation("username", "must be at most 64 characters")]),
                       "authorization")
    refused = _refusal(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(),
                                            grpc.aio.Metadata(*status.trailing_metadata), status.details))
    assert refused.message.startswith("用户名：") and "“username”" not in refused.message, refused.message
    assert refused.field == "username"


def test_the_browsers_address_is_the_peer_or_the_last_value_of_the_proxys_header() -> None:
    """The platform counts failed sign-ins per client address, and every browser reaches it from the console's:
    the console passes the browser's on, the socket's peer by default, or the last value (the one its own proxy
    added, a browser's own values before it) of GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER."""
    from starlette.requests import Request

    from console.app import browser_address

    def request(*headers: tuple[bytes, bytes]) -> Request:
        return Request({"type": "http", "method": "POST", "path": "/login", "headers": list(headers),
                        "query_string": b"", "client": ("10.0.0.5", 41234)})

    sent = (b"x-forwarded-for", b"198.51.100.66, 203.0.113.7")  # the first a browser's own, the last the proxy's
    direct = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                     SessionStore(idle_seconds=600))
    assert browser_address(direct, request(sent)) == "10.0.0.5"
    proxied = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051",  # type: ignore[arg-type]
                                             "GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER": "X-Forwarded-For"}), None,
                      SessionStore(idle_seconds=600))
    assert browser_address(proxied, request(sent)) == "203.0.113.7"
    assert browser_address(proxied, request()) == ""


class _HungDirectory(directory_pb2_grpc.DirectoryServiceServicer):
    """A directory that answers NOT_FOUND for one code and never answers for any other (hung), counting calls."""

    def __init__(self, unknown: str) -> None:
        self.unknown, self.asked, self.released = unknown, [], asyncio.Event()

    async def GetDepartment(self, request, context):  # type: ignore[no-untyped-def]
        self.asked.append(request.code)
        if request.code == self.unknown:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"department {request.code} not found")
        await self.released.wait()  # the caller's deadline ends the call
        return directory_pb2.GetDepartmentResponse()


async def test_a_directory_that_does_not_answer_is_asked_once_a_page_not_once_a_code() -> None:
    """With the directory hung, each department code of a page was looked up in turn, each waiting the whole call
    timeout: 目录 took 20 s to show its four providers by code (seen on a demo platform with the authorization
    service stopped), 监督 and 审计 longer, beyond what a proxy in front of the console waits. A lookup the directory
    did not answer pauses its lookups for UNANSWERED_PAUSE_SECONDS (codes shown meanwhile); a code it does not know
    (NOT_FOUND) is that code's answer and pauses nothing."""
    from console import names as names_module
    from console.backend import Services

    codes = [f"11110100MB0000{n:04d}" for n in range(4)]
    directory = _HungDirectory(codes[0])
    server = grpc.aio.server()
    directory_pb2_grpc.add_DirectoryServiceServicer_to_server(directory, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    services = Services(f"127.0.0.1:{port}", timeout=0.5)
    now = [1_000.0]
    names = names_module.Names(services, clock=lambda: now[0])
    try:
        assert await names.departments("t", codes) == dict.fromkeys(codes, "")
        assert directory.asked == codes[:2]  # the unknown one, then the one not answered: no more
        assert await names.departments("t", codes[2:]) == dict.fromkeys(codes[2:], "")
        assert directory.asked == codes[:2]
        now[0] += getattr(names_module, "UNANSWERED_PAUSE_SECONDS", 10.0)  # the pause over: asked again
        await names.departments("t", codes[2:3])
        assert directory.asked == [*codes[:2], codes[2]]
    finally:
        directory.released.set()
        await services.close()
        await server.stop(0)


def test_the_password_pages_code_hint_is_a_whole_sentence() -> None:
    """修改密码's 动态口令 hint ended '…登录时用过的口令不能再用，请等它显示下一个': the next what, it did not say, and
    the sentence stopped there (seen on a demo platform)."""
    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    page = console.templates.get_template("password.html").render(
        request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/password",
        may=lambda *_a: False, holds=lambda *_a: False)
    hint = re.search(r'id="f-totp_code-hint"[^>]*>([^<]*)<', page)
    assert hint is not None, page[-2000:]
    assert hint[1].endswith("请等它显示下一个口令后再输入。"), hint[1]


def test_an_applications_pages_mask_the_id_numbers_its_purpose_names() -> None:
    """An application's 用途说明 naming the case's person ('低保审核 <ID number>') was shown whole on 答复, 协调 and
    申请详情 to the provider's 审批人 and the authority's 审核员, while the 审计 page masks it in a query's declared
    purpose. Each masks it as the 审计 page does."""
    from govshare.authorization.v1 import sharing_pb2

    console = Console(load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051"}), None,  # type: ignore[arg-type]
                      SessionStore(idle_seconds=600))
    number = "342322194911060454"
    application = sharing_pb2.Application(id="app-1", resource_code="101001/000001", purpose_text=f"低保审核 {number}",
                                          state=sharing_pb2.APPLICATION_STATE_SUBMITTED)
    common = dict(request=None, session=None, person=None, csrf="", flash="", errors={}, nav=[], current="/",
                  may=lambda *_: True, holds=lambda *_: True, dept_names={}, res_names={}, names={}, closed={},
                  ended={}, typed={}, values={}, warn=2)
    pages = {
        "replies.html": {"applications": [(application, 3)]},
        "coordination.html": {"applications": [application], "escalations": {}, "may_decide": False},
        "application.html": {"application": application, "grant": None, "retired": "", "may_escalate": False},
    }
    for template, context in pages.items():
        page = console.templates.get_template(template).render(**common, **context)
        assert "低保审核 342322********0454" in page, template
        assert number not in page, template
