"""The dashboard in a real Chromium (Debian's, at /usr/bin/chromium; never a downloaded one),
driven by Playwright against uvicorn serving the app on a loopback port.

Each scenario collects the page's console errors and uncaught exceptions and asserts there are
none. Screenshots of every page at laptop and phone width go to pytest's cache folder
(`.pytest_cache/d/web-screenshots`), which the run keeps and git ignores.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from tests.analytics.conftest import insert_activities
from tests.campaigns.conftest import CAMPAIGNS, contact, email_step, new_campaign
from tests.fixtures.world import PASSWORD, World
from tests.leads.conftest import LEADS, new_contact, new_lead

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium"),
]

async_api = pytest.importorskip("playwright.async_api")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def server(app: Any) -> AsyncIterator[str]:
    """uvicorn in this process and event loop, on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    while not uv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    await task
    sock.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder: Path = request.config.cache.mkdir("web-screenshots")  # type: ignore[union-attr]
    return folder


class Tab:
    """A browser page with its console errors collected."""

    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page = page
        self.base = base
        self.shots = shots
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    async def goto(self, path: str) -> Any:
        return await self.page.goto(self.base + path)

    async def login(self, email: str, password: str = PASSWORD) -> None:
        await self.goto("/app/login")
        await self.page.get_by_label("E-mail").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.wait_for_url("**/app/pipeline")

    async def shoot(self, name: str) -> None:
        """Laptop and phone screenshots; at phone width nothing may overflow sideways."""
        await self.page.set_viewport_size(LAPTOP)
        await self._settle()
        await self.page.screenshot(path=str(self.shots / f"{name}-laptop.png"), full_page=True)
        await self.page.set_viewport_size(PHONE)
        await self._settle()  # charts follow the new width on the next frames
        overflow = await self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        await self.page.screenshot(path=str(self.shots / f"{name}-phone.png"), full_page=True)
        await self.page.set_viewport_size(LAPTOP)
        assert overflow <= 1, f"{name}: the page is {overflow}px wider than a phone screen"

    async def _settle(self) -> None:
        await self.page.evaluate(
            "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
        )

    def assert_clean(self) -> None:
        assert self.errors == []


@pytest.fixture
async def tab(browser: Any, server: str, shots: Path) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    yield Tab(page, server, shots)
    await context.close()


async def _chart_points(tab: Tab, canvas_id: str) -> int:
    selector = f"#{canvas_id}[data-drawn]"
    canvas = await tab.page.wait_for_selector(selector)
    points: str = await canvas.get_attribute("data-points")
    drawn = await tab.page.evaluate(
        "id => { const c = Chart.getChart(document.getElementById(id));"
        " return c ? c.data.datasets.flatMap(d => d.data).filter(v => v !== null).length : -1; }",
        canvas_id,
    )
    assert drawn == int(points)
    return drawn


async def test_login_drag_a_lead_across_the_kanban_and_open_it(world: World, tab: Tab) -> None:
    contact_row = await new_contact(
        world.a.manager, first_name="Dora", company_name="Dragco", job_title="VP Sales",
        company_size="201-1000",
    )  # fmt: skip
    lead = await new_lead(
        world.a.manager, contact_id=contact_row["id"], title="Dragco rollout",
        deal_value="1200.00", qualification_data={"budget_confirmed": True},
    )  # fmt: skip
    other = await new_lead(world.a.manager, title="Quiet one", deal_value="300.00")
    scored = await world.a.manager.post(f"{LEADS}/{lead['id']}/qualify")
    assert scored.status_code == 200, scored.text
    assert scored.json()["scores"]
    page = tab.page

    await tab.login("manager@company-a.example")
    card = f'.leadcard[data-lead-id="{lead["id"]}"]'
    assert await page.locator(f'.column[data-stage="lead"] {card}').count() == 1
    await tab.shoot("pipeline")

    await page.drag_and_drop(card, '.column[data-stage="sql"]')
    await page.wait_for_selector(f'.column[data-stage="sql"] {card}')
    assert (await world.a.manager.get(f"{LEADS}/{lead['id']}")).json()["stage"] == "sql"
    sql_count = page.locator('.column[data-stage="sql"] [data-count]')
    assert await sql_count.inner_text() == "1"

    # lost needs a reason: the board asks for one before moving
    await page.drag_and_drop(
        f'.leadcard[data-lead-id="{other["id"]}"]', '.column[data-stage="lost"]'
    )
    dialog = page.locator("#reason-dialog")
    await dialog.get_by_label("Reason").fill("chose a competitor")
    await dialog.get_by_role("button", name="Move lead").click()
    await page.wait_for_selector(f'.column[data-stage="lost"] [data-lead-id="{other["id"]}"]')
    moved = (await world.a.manager.get(f"{LEADS}/{other['id']}/stage-history")).json()
    assert moved["items"][0]["reason"] == "chose a competitor"

    # filters reload the board only
    await page.get_by_label("Value ≥").fill("1000")
    await page.get_by_label("Value ≥").press("Enter")
    await page.wait_for_selector(f'[data-lead-id="{other["id"]}"]', state="detached")
    await page.wait_for_load_state("networkidle")

    # the same move from the keyboard: the card's "Move…" form
    await page.locator(f"{card} summary").focus()
    await page.keyboard.press("Enter")
    await page.locator(f"{card} select").select_option("opportunity")
    await page.locator(f"{card} select").focus()
    await page.keyboard.press("Tab")  # the reason
    await page.keyboard.press("Tab")  # the Move button
    await page.keyboard.press("Enter")
    await page.wait_for_url("**notice=stage")
    assert (await world.a.manager.get(f"{LEADS}/{lead['id']}")).json()["stage"] == "opportunity"

    await page.click(f"{card} a.title")
    await page.wait_for_url(f"**/app/leads/{lead['id']}")
    assert await _chart_points(tab, "score-chart") > 0
    await tab.shoot("lead")
    # keyboard: the first Tab reaches the skip link
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    tab.assert_clean()


async def test_import_a_csv_with_progress_and_the_row_report(world: World, tab: Tab) -> None:
    page = tab.page
    await tab.login("manager@company-a.example")
    await tab.goto("/app/contacts/import")
    csv = b"first_name,email,tags\nIvy,ivy@x.example,a;b\nBad,not-an-email,\nJon,jon@x.example,\n"
    await page.set_input_files(
        'input[name="file"]', files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    await page.get_by_role("button", name="Import").click()
    report = await page.wait_for_selector("#import-report")
    assert await page.inner_text("[data-created]") == "2"
    assert await page.inner_text("[data-errors]") == "1"
    assert "not-an-email" in await report.inner_text() or "e-mail" in await report.inner_text()
    assert await page.get_attribute("#import-progress", "value") == "100"
    await tab.shoot("import")
    api = (await world.a.manager.get("/api/v1/contacts", params={"q": "ivy"})).json()
    assert api["items"][0]["tags"] == ["a", "b"]

    await tab.goto("/app/contacts")
    await page.get_by_label("Search").fill("jon")
    await page.wait_for_selector('#contacts-table [data-total="1"]')
    await tab.shoot("contacts")
    await page.get_by_role("link", name="Jon").click()
    await page.wait_for_selector("[data-testid=opt-in]")
    await tab.shoot("contact")
    tab.assert_clean()


async def test_build_start_a_campaign_and_see_its_analytics(
    world: World, tab: Tab, database: Database, app: Any
) -> None:
    people = [
        (await contact(world.a.admin, email=f"b{i}@x.example", tags=["beta"]))["id"]
        for i in range(4)
    ]
    page = tab.page
    await tab.login("manager@company-a.example")
    await tab.goto("/app/campaigns")
    await page.get_by_role("link", name="New campaign").click()
    await page.get_by_label("Name").fill("Beta launch")
    await page.get_by_label("Any of these tags").fill("beta")
    await tab.shoot("campaign-new")
    await page.get_by_role("button", name="Create draft").click()
    await page.wait_for_selector("[data-testid=campaign-status]")
    assert await page.inner_text("[data-preview-total]") == "4"

    step = page.locator("#step-form")
    await step.get_by_label("Wait").fill("0")
    await step.get_by_label("Unit").select_option("minutes")
    await step.get_by_label("Subject (e-mail)").fill("Hello {{first_name|there}}")
    await step.get_by_label("Body").first.fill("The beta is open: https://beta.example")
    await step.get_by_role("button", name="Add step").click()
    await page.wait_for_url("**notice=step-added**")

    # the live preview follows the targeting form without saving it
    await page.locator("#targeting-form").get_by_label("All these tags").fill("nobody-has-this")
    await page.locator("#targeting-form").get_by_label("All these tags").blur()
    await page.wait_for_selector("[data-preview-total]:text-is('0')")
    await page.reload()
    await tab.shoot("campaign-builder")
    await page.get_by_role("button", name="Start campaign").click()
    await page.wait_for_url("**notice=started")
    assert await page.inner_text("[data-testid=campaign-status]") == "active"
    cid = page.url.split("/campaigns/")[1].split("?")[0]
    assert (await world.a.manager.get(f"{CAMPAIGNS}/{cid}")).json()["status"] == "active"

    engine = Engine(
        database,
        EngineSettings(base_url="http://crm.test", secret_key=app.state.secret_key),
        SenderSettings(worker_id="browser", batch_size=100, concurrency=2),
    )
    assert (await engine.tick(datetime.now(UTC))).sent.sent == 4
    [row] = (await world.a.manager.get(f"{CAMPAIGNS}/{cid}/messages")).json()
    await insert_activities(
        database,
        [
            {"company_id": str(world.a.id), "campaign_id": cid, "contact_id": people[i],
             "message_id": row["id"], "activity_type": kind,
             "occurred_at": datetime.now(UTC), "metadata": {}}
            for i, kind in ((0, "email_opened"), (1, "email_opened"), (0, "email_replied"))
        ],
    )  # fmt: skip

    await page.get_by_role("link", name="Analytics").click()
    await page.wait_for_url("**/analytics")
    assert await _chart_points(tab, "funnel-chart") == 7
    assert await _chart_points(tab, "series-chart") > 0
    funnel = await page.evaluate(
        "Chart.getChart(document.getElementById('funnel-chart')).data.datasets[0].data"
    )
    assert funnel[:2] == [4, 4]
    await tab.shoot("campaign-analytics")
    await tab.goto("/app/campaigns")
    await tab.shoot("campaigns")
    await tab.goto("/app/outbox")
    assert await page.locator("#outbox tbody tr").count() == 4
    await tab.shoot("outbox")
    tab.assert_clean()


async def test_an_agent_cannot_start_and_another_companys_lead_is_a_404(
    world: World, tab: Tab
) -> None:
    await contact(world.a.admin, email="t@x.example", tags=["t"])
    campaign = await new_campaign(world.a.manager, target_criteria={"tags_any": ["t"]})
    await email_step(world.a.manager, campaign["id"])
    theirs = await new_lead(world.b.manager, title="Company B secret")
    page = tab.page
    await tab.login("agent@company-a.example")
    await tab.goto(f"/app/campaigns/{campaign['id']}")
    await page.wait_for_selector("[data-testid=campaign-status]")
    assert await page.locator("#start").count() == 0
    assert await page.get_by_role("button", name="Start campaign").count() == 0
    # the server refuses all the same, even with the session's own CSRF token
    status = await page.evaluate(
        """id => fetch(document.body.dataset.base + '/campaigns/' + id + '/start', {
               method: 'POST', headers: {'X-CSRF-Token': document.body.dataset.csrf}
           }).then(r => r.status)""",
        campaign["id"],
    )
    assert status == 403
    assert (await world.a.manager.get(f"{CAMPAIGNS}/{campaign['id']}")).json()["status"] == "draft"

    response = await tab.goto(f"/app/leads/{theirs['id']}")
    assert response.status == 404
    assert "404 · Not Found" in await page.inner_text("main")
    assert "Company B secret" not in await page.content()
    await tab.shoot("not-found")
    # the refused fetch and the 404 document are the only complaints the browser logged
    unexpected = [e for e in tab.errors if "status of 403" not in e and "status of 404" not in e]
    assert unexpected == []
