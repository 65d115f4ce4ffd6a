"""Real clicks in a real browser (headless Chromium from Debian's package, driven by Playwright):
the Slack simulator's page decides a run, and the Temporal UI finds a run by its search attributes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Browser, Dialog, async_playwright
from temporalio.client import Client

from cli import driver
from cli.devserver import DevServer
from cli.rig import free_port, playbooks_with, running_stack
from riposte import search_attributes
from riposte.temporal import data_converter
from tests.digest.support import until_stages
from tests.support.offers import akku_writes, notify_playbooks

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), "browser tests need Debian's chromium (make test installs it)"
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_a_click_on_the_slack_simulators_page_decides_the_run(
    browser: Browser, client: Client, task_queue: str
) -> None:
    async with running_stack(client, task_queue) as stack:
        fired = await driver.fire_scenario(stack, "admin_elevation")
        ((workflow_id, _),) = (await driver.settle(stack, fired)).items()
        assert stack.slack_url
        page = await browser.new_page()

        async def confirm(dialog: Dialog) -> None:  # the confirm dialog of a destructive button
            await dialog.accept()

        page.on("dialog", confirm)
        await page.goto(stack.slack_url)
        button = page.get_by_role("button", name="Revoke the role", exact=True)
        await button.wait_for(timeout=15_000)
        await page.select_option("#who", "U0ANALYST")
        await button.click()
        status = await driver.wait_for_stage(stack.client, workflow_id, "approved")
        assert status.decisions[-1].decided_by == "analyst"
        await page.get_by_text("decided by analyst").first.wait_for(timeout=15_000)  # the message, updated
        assert await page.get_by_role("button", name="Revoke the role", exact=True).count() == 0


async def test_the_temporal_ui_finds_a_run_by_its_search_attributes(browser: Browser, tmp_path: Path) -> None:
    server = DevServer(port=free_port(), ui_port=free_port(), db_file=tmp_path / "t.db", log_file=tmp_path / "t.log")
    await server.start()
    try:
        client = await Client.connect(server.address, data_converter=data_converter())
        async with running_stack(client, "ui-queue", temporal_ui_url=server.ui_url) as stack:
            fired = await driver.fire_scenario(stack, "mfa_fatigue")
            ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
            actor = workflow_id.removeprefix("investigation-")
            query = f'{search_attributes.ACTOR.name}="{actor}" AND {search_attributes.DECISION.name}="acted"'
            page = await browser.new_page()
            await page.goto(f"{server.ui_url}/namespaces/default/workflows?query={quote(query)}")
            await page.get_by_text(workflow_id).first.wait_for(timeout=30_000)
            assert status.stage == "acted"
    finally:
        server.stop()


async def test_the_digest_renders_in_the_slack_simulators_page_and_approve_all_decides(
    browser: Browser, client: Client, task_queue: str, tmp_path: Path
) -> None:
    folder = playbooks_with(  # every score asks a person: six requests, the third opens the digest
        tmp_path,
        "credential-stuffing",
        "{min_score: 70, response: act, actions: [lock, revoke_sessions]}",
        "{min_score: 100, response: act, actions: [lock, revoke_sessions]}",
    )
    async with running_stack(client, task_queue, riposte_playbooks_dir=folder) as stack:
        async with httpx.AsyncClient(timeout=30) as http:
            facts = await driver.load_scenario(http, stack, "credential_stuffing", count=6)
            assert (await driver.deliver(http, stack, "generic", facts)).status_code == 202
        await until_stages(client, task_queue, {"waiting_for_approval": 6}, timeout=60)
        assert stack.slack_url
        page = await browser.new_page()

        async def confirm(dialog: Dialog) -> None:  # Approve all asks "Are you sure?"
            await dialog.accept()

        page.on("dialog", confirm)
        await page.goto(stack.slack_url)
        await page.get_by_text("6 people waiting for a decision").first.wait_for(timeout=20_000)
        for label in ("Deny all", "Review individually"):
            assert await page.get_by_role("button", name=label, exact=True).count() == 1
        await page.select_option("#who", "U0ANALYST")
        await page.get_by_role("button", name="Approve all", exact=True).click()
        approved = await until_stages(client, task_queue, {"approved": 6}, timeout=60)
        assert set(approved.values()) == {"approved"}
        await page.get_by_text("analyst chose Approve all: 6 decided").first.wait_for(timeout=20_000)


async def test_an_analyst_acts_from_an_fyi_in_the_slack_simulators_page(
    browser: Browser, client: Client, task_queue: str, tmp_path: Path
) -> None:
    """A notify band's FYI offers the band above it: clicked on the page, the lock lands in Akku."""
    async with running_stack(client, task_queue, riposte_playbooks_dir=notify_playbooks(tmp_path)) as stack:
        fired = await driver.fire_scenario(stack, "dormant_account")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "notified" and stack.slack_url
        page = await browser.new_page()

        async def confirm(dialog: Dialog) -> None:
            await dialog.accept()

        page.on("dialog", confirm)
        await page.goto(stack.slack_url)
        button = page.get_by_role("button", name="Lock and revoke sessions", exact=True)
        await button.wait_for(timeout=15_000)
        await page.get_by_text("Nothing changes unless someone chooses").wait_for(timeout=5_000)
        await page.select_option("#who", "U0ANALYST")
        await button.click()
        done = await driver.wait_for_stage(stack.client, workflow_id, "approved")
        assert done.decisions[-1].decided_by == "analyst"
        applied = {(w["action"], w["status"]) for w in await akku_writes(stack)}
        assert applied == {("lock", "applied"), ("sessions_revoke", "applied")}


async def test_a_reply_in_a_thread_shows_under_its_message_with_its_mentions(
    browser: Browser, client: Client, task_queue: str
) -> None:
    async with running_stack(client, task_queue) as stack:
        assert stack.slack_url
        api = f"{stack.slack_url.rstrip('/')}/api"
        token = {"Authorization": f"Bearer {stack.settings.slack_bot_token.get_secret_value()}"}
        async with httpx.AsyncClient(headers=token) as http:
            first = (
                await http.post(f"{api}/chat.postMessage", json={"channel": "C0SECOPS", "text": "a request"})
            ).json()
            reply = {
                "channel": "C0SECOPS",
                "thread_ts": first["ts"],
                "text": ":bell: <!subteam^S0SECOPS> <@U0ANALYST>: still waiting 5 min, see <#C0SECLEADS>",
            }
            assert (await http.post(f"{api}/chat.postMessage", json=reply)).json()["ok"]
        page = await browser.new_page()
        await page.goto(stack.slack_url)
        thread = page.locator(".thread")
        await thread.wait_for(timeout=15_000)
        said = await thread.inner_text()
        assert "1 in thread" in said and "@S0SECOPS @U0ANALYST: still waiting 5 min, see #C0SECLEADS" in said
