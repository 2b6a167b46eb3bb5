import assert from "node:assert/strict";
import { type ImageFormat, sniffImageFormat } from "./format.ts";

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(
    parts.flatMap((p) => typeof p === "string" ? Array.from(new TextEncoder().encode(p)) : p),
  );

Deno.test("sniffImageFormat recognises formats by their magic numbers", () => {
  const cases: [ImageFormat, Uint8Array][] = [
    ["jpeg", bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10])],
    ["png", bytes([0x89], "PNG", [0x0d, 0x0a, 0x1a, 0x0a, 0, 0])],
    ["gif", bytes("GIF87a", [1, 0])],
    ["gif", bytes("GIF89a", [1, 0])],
    ["webp", bytes("RIFF", [0x40, 0, 0, 0], "WEBPVP8X")],
    ["bmp", bytes("BM", [0x36, 0, 0, 0])],
    ["tiff", bytes([0x49, 0x49, 0x2a, 0])],
    ["tiff", bytes([0x4d, 0x4d, 0, 0x2a])],
    ["heic", bytes([0, 0, 0, 0x18], "ftypheic", [0, 0, 0, 0])],
    ["heic", bytes([0, 0, 0, 0x18], "ftypmif1", [0, 0, 0, 0])],
    ["avif", bytes([0, 0, 0, 0x1c], "ftypavif", [0, 0, 0, 0])],
    ["ico", bytes([0, 0, 1, 0, 1, 0])],
    ["jpeg2000", bytes([0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a])],
    ["jpegxl", bytes([0xff, 0x0a, 0xfa])],
    ["psd", bytes("8BPS", [0, 1])],
    ["pdf", bytes("%PDF-1.4\n")],
  ];
  for (const [format, data] of cases) assert.equal(sniffImageFormat(data), format, format);
});

Deno.test("sniffImageFormat tells text, markup and binary apart", () => {
  assert.equal(sniffImageFormat(bytes("Hello, world.\r\n\tTabs are text.")), "text");
  assert.equal(sniffImageFormat(bytes("\uFEFFname,label\ntest_000,Paul\n")), "text");
  assert.equal(sniffImageFormat(bytes("Zoë says héllo — ✓")), "text");
  assert.equal(sniffImageFormat(bytes("  <!doctype HTML><title>x</title>")), "html");
  assert.equal(sniffImageFormat(bytes("<html lang=en>")), "html");
  assert.equal(sniffImageFormat(bytes('<svg xmlns="http://www.w3.org/2000/svg"/>')), "svg");
  assert.equal(sniffImageFormat(bytes('<?xml version="1.0"?><svg/>')), "svg");
  assert.equal(sniffImageFormat(bytes('<?xml version="1.0"?><feed/>')), "xml");
  assert.equal(sniffImageFormat(bytes("text with a NUL", [0], "inside")), "unknown");
  assert.equal(sniffImageFormat(bytes([0xc3, 0x28, 0x41])), "unknown"); // invalid UTF-8
  assert.equal(sniffImageFormat(new Uint8Array()), "unknown");
});

Deno.test("sniffImageFormat accepts long text whose sniff window splits a character", () => {
  const text = "a".repeat(511) + "é and more text after the window";
  assert.equal(sniffImageFormat(bytes(text)), "text");
});

Deno.test("sniffImageFormat does not take RIFF containers other than WebP for WebP", () => {
  assert.equal(sniffImageFormat(bytes("RIFF", [0x40, 0, 0, 0], "WAVEfmt ")), "unknown");
});
