# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""The console as a screen-reader and keyboard-only user meets it (GB/T 37668-2019, close to WCAG 2.1 AA), beyond
what axe-core checks: what is said about a field is read with the field, in the forms as they come back refused."""

from __future__ import annotations

import pytest
from console_browser import (
    apply_for_population,
    browser,
    console_server,
    context,
    dump,
    open_as,
    page_listing,
    system_session,
)

pytestmark = pytest.mark.integration

#: What a screen reader would not read with its field: a field's error or hint no control's aria-describedby
#: names, a control marked invalid (aria-invalid, or its .field.invalid) whose description says nothing.
UNTIED = """() => {
  const out = [];
  const refs = el => (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
  const controls = [...document.querySelectorAll(
      'main input:not([type=hidden]), main select, main textarea, main fieldset')];
  const tied = id => id && controls.some(c => refs(c).includes(id));
  document.querySelectorAll('main .field-error').forEach(e => {
    if (!tied(e.id)) out.push('error not read with its field: ' + e.textContent.trim());
  });
  document.querySelectorAll('main .field .hint, main fieldset > .hint').forEach(h => {
    if (!tied(h.id)) out.push('hint not read with its field: ' + h.textContent.trim().slice(0, 24));
  });
  document.querySelectorAll('main .field.invalid, main fieldset.invalid').forEach(f => {
    const group = f.matches('fieldset') ? f : f.querySelector('fieldset');  // a group says why, never 'invalid'
    const c = group || f.querySelector('input:not([type=hidden]), select, textarea');
    const said = group ? refs(group).length > 0 : c && c.getAttribute('aria-invalid') === 'true';
    if (c && !said) out.push('marked invalid for the eye only: ' + (c.name || c.textContent.trim().slice(0, 8)));
  });
  document.querySelectorAll('main [aria-invalid=true]').forEach(c => {
    const said = refs(c).map(id => document.getElementById(id)).filter(Boolean)
        .map(x => x.textContent.trim()).join('');
    if (!said) out.push('invalid, nothing said why: ' + (c.name || c.id));
  });
  return out;
}"""


async def untied(page) -> list[str]:  # type: ignore[no-untyped-def]
    return await page.evaluate(UNTIED)


async def test_a_fields_hint_and_error_are_read_with_the_field(context, console_server, platform):  # type: ignore[no-untyped-def]
    """Only a text input's server-side error was tied to it: a textarea's or a select's error (变更内容,
    所属部门), a group's (申请的信息项, 角色), the sign-in page's, an error console.js writes as you type, and every
    hint (格式、示例、仅报告部门可见…) were read by a screen reader nowhere near the field, which was not said to
    be invalid either."""
    page = await context.new_page()  # the sign-in page, sent without a username
    await page.goto("/login")
    await page.get_by_role("button", name="登录").click()
    assert "请输入用户名" in await page.locator("#login-message").inner_text()
    problems = {"/login": await untied(page)}

    officer = await open_as(context, console_server, system_session(console_server, platform, "police",
                                                                    ("DATA_OFFICER",)))
    await officer.goto("/mandates")
    await officer.get_by_role("button", name="报告职能变更").click()  # no 变更内容
    assert await officer.locator("#description-error").count() == 1
    problems["/mandates"] = await untied(officer)
    await officer.goto("/drafts/new")
    await officer.get_by_role("button", name="保存草稿").click()  # console.js's own checks, nothing sent
    assert await officer.locator("[aria-invalid=true]").count() > 0
    problems["/drafts/new"] = await untied(officer)

    applicant = await open_as(context, console_server, system_session(console_server, platform, "civil",
                                                                      ("APPLICANT",)))
    await applicant.goto("/apply?code=101001/000001")
    await applicant.get_by_role("button", name="提交申请").click()
    assert await applicant.locator("#items-error").count() == 1
    problems["/apply"] = await untied(applicant)
    await applicant.goto("/disputes")
    problems["/disputes"] = await untied(applicant)

    admin = await open_as(context, console_server, system_session(console_server, platform, "authority",
                                                                  ("ADMINISTRATOR",)))
    await admin.goto("/persons/new")
    await admin.get_by_role("button", name="创建人员").click()
    assert await admin.locator(".field-error").count() > 0, await admin.content()
    problems["/persons/new"] = await untied(admin)
    assert {path: said for path, said in problems.items() if said} == {}, dump(problems)


#: Pages with tables, and the demo system whose session opens them (its roles: what it may read).
TABLE_PAGES = [("/catalog", "civil"), ("/catalog/entry?code=101001/000001", "civil"), ("/audit", "authority"),
               ("/supervision", "authority"), ("/persons", "authority"), ("/departments", "authority"),
               ("/systems", "authority"), ("/drafts/new", "police")]


async def test_every_table_has_a_caption(context, console_server, platform):  # type: ignore[no-untyped-def]
    """No table of the console had a <caption>: a screen reader's list of tables (and the table it enters) read
    资源代码 名称 分类… or 序号 时间 操作人… with nothing naming what the rows are, on pages with two or three
    tables (审计: the usage counts, the accesses, the administrative log; an entry's 信息项 and 版本)."""
    seen, uncaptioned = 0, {}
    for path, system in TABLE_PAGES:
        page = await open_as(context, console_server, system_session(console_server, platform, system))
        response = await page.goto(path)
        assert response.status == 200, (path, await page.content())
        tables = await page.locator("main table").evaluate_all(
            "ts => ts.map(t => [t.caption ? t.caption.textContent.trim() : '', t.rows[0].textContent.trim()])")
        seen += len(tables)
        missing = [first_row[:30] for caption, first_row in tables if not caption]
        if missing:
            uncaptioned[path] = missing
        await page.close()
    assert uncaptioned == {}, dump(uncaptioned)
    assert seen >= 8


#: The colours that show where the focus is (outline, box-shadow rings) and the background behind the element,
#: with each colour's contrast against that background (WCAG 2.1 1.4.11: 3:1 for a state's indicator).
FOCUS_CONTRAST = """el => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b]
      .map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  el.focus();
  const style = getComputedStyle(el);
  let back = el.parentElement;
  while (back && rgb(getComputedStyle(back).backgroundColor)[3] === 0) { back = back.parentElement; }
  const behind = rgb(back ? getComputedStyle(back).backgroundColor : 'rgb(255, 255, 255)');
  const colours = [style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 ? style.outlineColor : null]
      .concat((style.boxShadow.match(/rgba?\\([^)]*\\)/g) || [])).filter(Boolean);
  return colours.map(c => Math.round(ratio(rgb(c), behind) * 100) / 100);
}"""


async def test_the_focus_is_seen_on_the_page_and_in_the_menu(context, console_server, platform):  # type: ignore[no-untyped-def]
    """The focus was a 3 px amber (#f2a900) outline alone: 4.2:1 against the menu's blue, but 2.06:1 against the
    white of every page, where a keyboard user looks for it on each link, field and button (1.4.11 asks 3:1).
    It is now two rings, black and amber, one of which stands out against any background."""
    page = await open_as(context, console_server, system_session(console_server, platform, "civil"))
    await page.goto("/catalog")
    seen = {}
    for name, selector in (("menu link", "nav a[href='/catalog']"), ("link", "main tbody a"),
                           ("field", "#f-q"), ("button", "main button[type=submit]"), ("skip link", "a.skip"),
                           ("sign-out", "header .who button")):
        seen[name] = await page.locator(selector).first.evaluate(FOCUS_CONTRAST)
    assert {name: ratios for name, ratios in seen.items() if not ratios or max(ratios) < 3} == {}, seen


async def test_two_lists_on_a_page_are_paged_by_landmarks_of_their_own_names(context, console_server, platform):  # type: ignore[no-untyped-def]
    """审计 (the accesses, the administrative log), 疑义与冲突 (the disputes, the conflicts) and 监督 (evaluations,
    violations) each page two lists: both navigation landmarks were named 分页, one name twice in a screen
    reader's list of landmarks (axe's landmark-unique), and neither 下一页 said which list it moved."""
    named = {}
    for path, system in (("/audit", "authority"), ("/disputes", "police"), ("/supervision", "authority")):
        page = await open_as(context, console_server, system_session(console_server, platform, system))
        await page.goto(path)
        named[path] = await page.locator("nav").evaluate_all("ns => ns.map(n => n.getAttribute('aria-label'))")
        await page.close()
    assert {path: names for path, names in named.items() if len(set(names)) < len(names)} == {}, dump(named)
    assert "资源使用记录分页" in named["/audit"] and "数据冲突分页" in named["/disputes"], dump(named)


async def test_a_refused_form_comes_back_with_the_focus_on_the_field_to_correct(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A form sent back refused came back with the focus at the top of the page: a screen reader read the title
    and the menu again and nothing of what to correct, the refused field maybe two screens below. The title was
    the form's own, as if the page had just been opened: it now begins 提交未成功：."""
    officer = await open_as(context, console_server, system_session(console_server, platform, "police",
                                                                    ("DATA_OFFICER",)))
    await officer.goto("/mandates")
    shown = await officer.title()
    await officer.get_by_role("button", name="报告职能变更").click()  # no 变更内容
    await officer.wait_for_load_state()
    assert await officer.evaluate("document.activeElement.name") == "description"
    # The title, the first thing a screen reader reads of the new page, says the form was not accepted.
    assert await officer.title() == f"提交未成功：{shown}" and not shown.startswith("提交未成功")
    applicant = await open_as(context, console_server, system_session(console_server, platform, "civil",
                                                                      ("APPLICANT",)))
    await applicant.goto("/apply?code=101001/000001")
    await applicant.get_by_role("button", name="提交申请").click()  # nothing chosen: 申请的信息项 first
    await applicant.wait_for_load_state()
    assert await applicant.evaluate("[document.activeElement.name, document.activeElement.type]") == [
        "items", "checkbox"]
    outline = await applicant.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


async def test_an_items_data_type_length_and_key_type_refused_are_read_with_their_controls(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """新建目录's item rows tied the errors of 名称, 英文名 and 脱敏规则 to their inputs, not those of 数据类型,
    长度 and 键类型: a 字符型 item saved without its length came back with 长度's error read with no field, the field
    not said to be invalid, and the focus at the page's start (no field was marked invalid), so a keyboard user
    went looking for what to correct in a table of eight rows."""
    import uuid

    officer = await open_as(context, console_server, system_session(console_server, platform, "police",
                                                                    ("DATA_OFFICER",)))
    await officer.goto("/drafts/new")
    form = officer.locator("#entry-form")
    await form.locator("[name=category]").select_option(label="基础")
    await form.locator("[name=code]").fill(f"101001/{uuid.uuid4().int % 10**6:06d}")
    await form.locator("[name=name]").fill("信息项有误的目录")
    await form.locator("[name=subject]").fill("人口")
    await form.locator("[name=format_class]").select_option(label="数据库")
    await form.locator("[name=update_cycle]").select_option(label="每日")
    await form.locator("[name=share_type]").select_option(label="无条件共享")
    await form.get_by_label("联机查询").check()
    await form.locator("[name='endpoint.dataset']").fill(f"rows_{uuid.uuid4().hex[:8]}")
    await form.locator("[name=key_item]").fill("citizen_id")
    for row, (name, machine) in enumerate([("公民身份号码", "citizen_id"), ("姓名", "name")]):
        await form.locator(f"[name='items[{row}].name']").fill(name)
        await form.locator(f"[name='items[{row}].machine_name']").fill(machine)
        await form.locator(f"[name='items[{row}].data_type']").select_option(label="字符型C")
    await form.locator("[name='items[0].identifier']").select_option("1")
    await form.locator("[name='items[1].length']").fill("30")  # the first row's left blank
    await form.get_by_role("button", name="保存草稿").click()
    await officer.wait_for_load_state()
    assert await officer.locator("#items-0-length-error").inner_text() == "此数据类型须填写大于 0 的长度。"
    assert await untied(officer) == []
    assert await officer.evaluate("document.activeElement.name") == "items[0].length"


async def test_a_decisions_items_refused_are_read_with_their_group(context, console_server, platform):  # type: ignore[no-untyped-def]
    """答复's 同意的信息项 (and 协调's 准予的信息项, 授权's 调整信息项) said 请至少勾选一个同意的信息项 under a group
    that did not name it: a screen reader read the error with no field, and the focus stayed at the page's start,
    the card maybe a screen below among ten."""
    app_id = await apply_for_population(platform, "civil")
    approver = await open_as(context, console_server, system_session(console_server, platform, "police",
                                                                     ("APPROVER",)))
    await page_listing(approver, "/replies", app_id)
    card = approver.locator("section", has_text=app_id)
    for box in await card.locator("[name=items]").all():
        await box.uncheck()
    await card.get_by_role("button", name="同意").click()
    await approver.wait_for_load_state()
    assert "请至少勾选一个同意的信息项" in await approver.locator("#items-error").inner_text()
    assert await untied(approver) == []
    assert await approver.evaluate("[document.activeElement.name, document.activeElement.type]") == [
        "items", "checkbox"]
