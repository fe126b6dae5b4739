"""The maker's products in a real browser (Debian's Chromium, driven by Playwright): sign
in, make a sneaker with ten sizes (prices typed "129.00" and "70") and a photo, see it on
its page, remove a size, set the shop's look; the form without JavaScript too.
Screenshots go to docs/screenshots/admin-products-*.png, admin-product-edit-*.png and
admin-shop-*.png with SOLDOUT_SCREENSHOTS=1."""

from __future__ import annotations

import io
import os
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.support import ADMIN_TOKEN, ServerProcess

SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SOLDOUT_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "soldout-screenshots"
)
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
SIZES = range(38, 48)  # EU sizes: ten SKUs


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)


def sneaker_photo() -> bytes:
    """A phone photo stored on its side (EXIF orientation 6), as phones save them."""
    image = Image.new("RGB", (1600, 1200), "#e9e4da")
    draw = ImageDraw.Draw(image)
    for y in range(1200):  # a soft floor
        shade = 233 - y // 30
        draw.line([(0, y), (1600, y)], fill=(shade, shade - 4, shade - 12))
    grain = random.Random(7)  # a photo's grain: the upload is larger than any JSON body
    for _ in range(60_000):
        x, y = grain.randrange(1600), grain.randrange(1200)
        draw.point((x, y), fill=(grain.randrange(150, 255),) * 3)
    draw.ellipse((380, 300, 1220, 900), fill="#d2452b")  # seen upright: a red sole on top
    draw.rectangle((560, 420, 1040, 780), fill="#f6f2ea")
    upright = image.rotate(90, expand=True)  # what the sensor stored
    exif = upright.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=88, exif=exif)
    return out.getvalue()


def trail_cap(server: ServerProcess) -> None:
    with server.admin() as admin:
        skus = [
            {"code": f"CAP-{c}", "name": c, "price": 3500, "currency": "EUR"} for c in ("S", "M")
        ]
        made = admin.post("/api/v1/products", json={"name": "Trail Cap", "skus": skus})
        body = {
            "product_id": made.json()["id"],
            "title": "Cap launch",
            "sale_opens_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            "batch": {"CAP-S": 50, "CAP-M": 50},
            "draft": True,
        }
        assert admin.post("/api/v1/launches", json=body).status_code == 201


def sign_in(page: Page) -> None:
    page.goto("/admin/products")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()


def test_a_maker_makes_a_sneaker_with_ten_sizes_and_a_photo(
    browser: Browser, store_server: ServerProcess
) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=store_server.base_url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    sign_in(page)
    page.get_by_role("link", name="New product").click()
    expect(page.get_by_role("heading", name="New product", level=1)).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Runner One")
    page.get_by_label("The story, in Markdown").fill(
        "## Made to run\n\nA **light** trainer with a recycled sole.\n\n"
        "- 240 g in size 42\n- machine washable\n\n[Care guide](https://example.com/care)"
    )
    preview = page.locator("#description-preview")
    expect(preview.get_by_role("heading", name="Made to run", level=2)).to_be_visible()
    expect(preview.get_by_role("link", name="Care guide")).to_have_attribute(
        "rel", "nofollow noopener"
    )
    page.get_by_label("Spec 1 label").fill("Upper")
    page.get_by_label("Spec 1 value").fill("Recycled knit")

    add = page.get_by_role("button", name="Add a SKU")
    expect(page.get_by_role("button", name="More SKU rows")).to_be_hidden()  # the script's
    for _ in range(len(SIZES) - 3):  # three blank rows to start with
        add.click()
    for n, size in enumerate(SIZES, start=1):
        page.get_by_label(f"SKU {n} code", exact=True).fill(f"RUN-{size}")
        page.get_by_label(f"SKU {n} name", exact=True).fill(f"EU {size}")
        page.get_by_label(f"SKU {n} price", exact=True).fill("129.00" if size < 45 else "70")
    photo = sneaker_photo()
    assert len(photo) > 4 * 65536  # over the 64 KiB other bodies may have, through Granian
    page.get_by_label("Add images").set_input_files(
        {"name": "sneaker.jpg", "mimeType": "image/jpeg", "buffer": photo}
    )
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("status")).to_have_text("Product created. Now schedule its launch.")

    trail_cap(store_server)  # another product, with a draft launch, for the list
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Products").click()
    expect(page.get_by_role("link", name="Cap launch")).to_be_visible()
    expect(page.get_by_text("draft", exact=True)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Runner One")
    expect(row.get_by_role("cell", name="10", exact=True)).to_be_visible()
    expect(row).to_contain_text("EUR 70.00 \N{EN DASH} 129.00")
    thumb = row.locator("td.thumb img")
    expect(thumb).to_have_js_property("complete", True)
    assert thumb.evaluate("img => img.naturalWidth") == 480
    shoot(page, "products-desktop")

    row.get_by_role("link", name="Runner One", exact=True).click()
    expect(page.get_by_role("heading", name="Runner One", level=1)).to_be_visible()
    shown = page.get_by_role("img", name="Image 1 of Runner One")
    expect(shown).to_be_visible()
    expect(shown).to_have_js_property("complete", True)
    width, height = shown.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert (width, height) == (480, 360)  # upright: landscape, as the sole was drawn
    expect(page.get_by_label("SKU 1 price", exact=True)).to_have_value("129.00")
    expect(page.get_by_label("SKU 10 price", exact=True)).to_have_value("70.00")
    expect(page.get_by_label("SKU 11 code", exact=True)).to_have_value("")  # a blank row
    expect(preview.get_by_role("heading", name="Made to run", level=2)).to_be_visible()
    shoot(page, "product-edit-desktop")

    # a size dropped and a price changed, with the script's Remove button
    page.get_by_role("button", name="Remove SKU 10").click()
    page.get_by_label("SKU 1 price", exact=True).fill("1.299,00")
    page.get_by_role("button", name="Save product").click()
    expect(page.get_by_role("status")).to_have_text(
        "Product saved. Its launch pages show the change."
    )
    expect(page.get_by_label("SKU 1 price", exact=True)).to_have_value("1299.00")
    expect(page.get_by_label("SKU 10 code", exact=True)).to_have_value("")
    expect(page.get_by_label("SKU 9 code", exact=True)).to_have_value("RUN-46")

    assert problems == []  # no script error (the refusal below loads a 400 page on purpose)

    # a price that cannot be read exactly is refused in words, pointing at its input
    page.get_by_label("SKU 2 price", exact=True).fill("12.345")
    page.get_by_role("button", name="Save product").click()
    expect(page.get_by_role("alert")).to_contain_text("EUR has 2 decimals")
    expect(page.get_by_label("SKU 2 price", exact=True)).to_be_focused()

    # its launch: a draft until published, then its storefront page shows the photo and sizes
    with store_server.admin() as admin:
        made = admin.get("/api/v1/products").json()
        product_id = next(p["id"] for p in made if p["name"] == "Runner One")
    page.goto(f"/admin/launches/new?product_id={product_id}")
    page.get_by_label("Title").fill("Runner One: first drop")
    page.get_by_label("Sale opens (UTC)").fill("2030-06-01T12:00:00")
    for size in list(SIZES)[:9]:
        page.get_by_label(f"RUN-{size}").fill("20")
    page.get_by_role("button", name="Create launch").click()
    expect(page.get_by_text("Draft: not visible to fans yet.")).to_be_visible()
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_role("status")).to_have_text("Launch published: fans can see it.")
    page.get_by_role("link", name="Storefront page").click()
    expect(page.get_by_role("heading", name="Runner One: first drop", level=1)).to_be_visible()
    hero = page.locator("#hero-image")
    expect(hero).to_have_js_property("complete", True)
    assert hero.evaluate("img => img.naturalWidth") > 0
    assert page.locator(".sku").count() == 9
    expect(page.locator(".prose").get_by_role("heading", name="Made to run")).to_be_visible()

    phone = browser.new_context(
        viewport=PHONE, base_url=store_server.base_url, storage_state=context.storage_state()
    ).new_page()
    phone.goto("/admin/products")
    expect(phone.locator("td.thumb img")).to_have_js_property("complete", True)
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # no sideways scrolling on a phone
    shoot(phone, "products-phone")
    phone.get_by_role("link", name="Runner One", exact=True).click()
    expect(phone.get_by_role("img", name="Image 1 of Runner One")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    remove = phone.get_by_role("button", name="Remove spec 1").bounding_box()
    assert remove is not None
    assert remove["width"] >= 44  # a button a thumb can press (it was a sliver)
    shoot(phone, "product-edit-phone")
    phone.context.close()
    context.close()


def test_the_product_form_works_without_javascript(
    browser: Browser, store_server: ServerProcess
) -> None:
    context = browser.new_context(
        viewport=DESKTOP, base_url=store_server.base_url, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page)
    page.goto("/admin/products/new")
    expect(page.get_by_role("button", name="Add a SKU")).to_be_hidden()
    page.get_by_label("Name", exact=True).fill("Plain Cap")
    page.get_by_label("The story, in Markdown").fill("# Warm\n\n*Wool*")
    page.get_by_role("button", name="Preview the description").click()
    expect(page.locator("#description-preview em")).to_have_text("Wool")
    page.get_by_role("button", name="More SKU rows").click()
    expect(page.get_by_label("SKU 8 code", exact=True)).to_be_visible()  # 3 + 5 rows
    for n in range(1, 9):
        page.get_by_label(f"SKU {n} code", exact=True).fill(f"CAP-{n}")
        page.get_by_label(f"SKU {n} price", exact=True).fill("25")
    page.get_by_label("Remove SKU 8").check()
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("status")).to_have_text("Product created. Now schedule its launch.")
    page.goto("/admin/products")
    row = page.get_by_role("row").filter(has_text="Plain Cap")
    expect(row.get_by_role("cell", name="7", exact=True)).to_be_visible()
    expect(row).to_contain_text("EUR 25.00")
    context.close()


def test_a_maker_sets_the_shops_look(browser: Browser, store_server: ServerProcess) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=store_server.base_url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page)
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Shop").click()
    page.get_by_label("Shop name").fill("Stride Works")
    page.get_by_label("Tagline").fill("Trainers in small batches, made to last")
    page.get_by_label("Accent colour").fill("#1f6f5c")
    logo = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((40, 40, 472, 472), fill="#1f6f5c")
    ImageDraw.Draw(logo).rectangle((200, 120, 312, 392), fill="#ffffff")
    out = io.BytesIO()
    logo.save(out, "PNG")
    page.get_by_label("Logo").set_input_files(
        {"name": "logo.png", "mimeType": "image/png", "buffer": out.getvalue()}
    )
    page.get_by_role("button", name="Save shop").click()
    expect(page.get_by_role("status")).to_have_text("Shop saved.")
    expect(page.get_by_role("img", name="Logo of Stride Works")).to_be_visible()
    bar = page.locator(".shop-bar")
    expect(bar).to_have_css("background-color", "rgb(31, 111, 92)")
    expect(bar).to_have_css("color", "rgb(255, 255, 255)")  # white reads better on it
    icon = page.get_by_role("img", name="Favicon")
    expect(icon).to_have_js_property("complete", True)
    assert icon.evaluate("img => img.naturalWidth") == 192
    shoot(page, "shop-desktop")
    phone = browser.new_context(
        viewport=PHONE, base_url=store_server.base_url, storage_state=context.storage_state()
    ).new_page()
    phone.goto("/admin/shop")
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shoot(phone, "shop-phone")
    phone.context.close()
    context.close()
