"""Drives Herald's console in headless Chromium (Debian's chromium and chromium-driver) through
what a person does with it: a refused token, signing in, creating a webhook notification, seeing
an event's delivery turn `sent`, pausing and resuming the notifier, resending a failed delivery,
one event's page and the settings. Run by tests/e2e/console.rs, which starts herald-local and
the webhook receiver and passes them in the environment:

  HERALD_URL        the server, e.g. http://127.0.0.1:3000
  HERALD_TOKEN      the ready-made organization's admin token
  HERALD_RECEIVER   the webhook receiver's URL (answers 200, 200, 400, then 200)
  HERALD_SCREENSHOT where to keep a screenshot of the delivery log

Exits non-zero, saying what it was waiting for, on the first thing that does not happen.
"""

import json
import os
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["HERALD_URL"]
TOKEN = os.environ["HERALD_TOKEN"]
RECEIVER = os.environ["HERALD_RECEIVER"]
SCREENSHOT = os.environ["HERALD_SCREENSHOT"]
ORG = TOKEN.split("_")[1]


def api(method, path, body=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": "Bearer " + TOKEN, "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read()
        return json.loads(text) if text else None


def emit():
    """Emits a buildCreated event from the API: its id."""
    answer = api("POST", f"/v1/organizations/{ORG}/events",
                 {"type": "buildCreated", "data": {"appName": "Console"}})
    return answer["data"]["id"]


options = Options()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
waiting = WebDriverWait(driver, 30, poll_frequency=0.1)


def until(what, check):
    try:
        return waiting.until(lambda d: check())
    except Exception as e:  # selenium's TimeoutException, or an element gone while re-rendered
        raise SystemExit(f"waited 30 s for {what}: {type(e).__name__} {e}; page: {driver.current_url}; "
                         f"flash: {flash()!r}")


def flash():
    try:
        element = driver.find_element(By.ID, "flash")
        return element.text if element.is_displayed() else ""
    except Exception:
        return ""


def find(css):
    return driver.find_element(By.CSS_SELECTOR, css)


def present(css):
    return len(driver.find_elements(By.CSS_SELECTOR, css)) > 0


def go(page):
    find(f'#nav a[href="#{page}"]').click()


def row_status(event):
    """The status of `event`'s delivery in the log, or None while it is not shown."""
    rows = driver.find_elements(By.CSS_SELECTOR, f'#deliveries tr[data-event="{event}"]')
    try:
        return rows[0].get_attribute("data-status") if rows else None
    except Exception:  # re-rendered meanwhile
        return None


def stored():
    return driver.execute_script("return sessionStorage.length")


try:
    driver.get(BASE + "/console")
    until("the sign-in form", lambda: present("#token"))

    # A token of the right shape that Herald does not know: a clear message, nothing stored.
    find("#token").send_keys(f"hrld_{ORG}_" + "x" * 43)
    find("#sign-in").click()
    until("the refusal", lambda: "Herald refused that token: 401" in flash())
    assert stored() == 0, "a refused token was stored"
    # Not a token at all.
    find("#token").send_keys("not-a-token")
    find("#sign-in").click()
    until("the shape message", lambda: "not a Herald token" in flash())
    assert stored() == 0

    # Signing in keeps the token in sessionStorage, never in the URL.
    find("#token").send_keys(TOKEN)
    find("#sign-in").click()
    until("the delivery log", lambda: present("#deliveries"))
    assert driver.execute_script("return sessionStorage.getItem('herald.token')") == TOKEN
    assert TOKEN not in driver.current_url

    # A webhook notification, created in the form.
    go("notifications")
    until("the creation form", lambda: present("#create-form"))
    find("#new-url").send_keys(RECEIVER)
    find('#new-events input[value="buildCreated"]').click()
    find("#create").click()
    until("the creation", lambda: flash().startswith("Created "))
    assert "whsec_" in flash(), flash()
    until("the new row", lambda: present("#notifications tr[data-id]"))

    # An event from the API: its delivery turns `sent` in the log, which refreshes by itself.
    go("deliveries")
    until("the delivery log", lambda: present("#deliveries"))
    first = emit()
    until("the first delivery sent", lambda: row_status(first) == "sent")

    # Paused: the next delivery is held; resumed: it is sent.
    find("#paused").click()
    until("the pause", lambda: flash().startswith("Notifier paused"))
    assert api("GET", "/api/v2/notifications/settings")["notifier_paused"] is True
    second = emit()
    until("the second delivery held", lambda: row_status(second) == "held")
    find("#paused").click()
    until("the resume", lambda: flash().startswith("Notifier running"))
    until("the second delivery sent", lambda: row_status(second) == "sent")

    # The receiver refuses the third (400): failed; resent from the log, it is sent.
    third = emit()
    until("the third delivery failed", lambda: row_status(third) == "failed")
    find(f'#deliveries tr[data-event="{third}"] button.resend').click()
    until("the resend", lambda: "queued again" in flash())
    until("the third delivery sent", lambda: row_status(third) == "sent")
    driver.save_screenshot(SCREENSHOT)

    # One event's page: each target's status.
    find(f'#deliveries tr[data-event="{first}"] a').click()
    until("the event page", lambda: present('#event-deliveries tr[data-status="sent"]'))

    # Settings.
    go("settings")
    until("the settings form", lambda: present("#settings-form"))
    quota = find("#sms-quota")
    quota.clear()
    quota.send_keys("7")
    find('#language option[value="de"]').click()
    find("#save-settings").click()
    until("the save", lambda: flash() == "Settings saved.")
    saved = api("GET", f"/v1/environments/{ORG}/notificationsSettings")
    assert saved["restrictions"]["smsVoiceQuota"]["daily"] == 7, saved
    assert saved["defaultLanguage"] == "de", saved

    # Signing out forgets the token.
    find("#sign-out").click()
    until("the sign-in form again", lambda: present("#token"))
    assert stored() == 0
    # Expected: the refused token's 401, and the browser's own favicon request.
    logs = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"
            and "status of 401" not in entry.get("message", "")
            and "favicon.ico" not in entry.get("message", "")]
    assert not logs, f"the browser's console has errors: {logs}"
    print(json.dumps({"events": [first, second, third]}))
finally:
    driver.quit()
