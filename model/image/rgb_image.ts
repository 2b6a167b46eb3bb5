/**
 * The one in-memory image form the model code passes around.
 * @module
 */

/** 8-bit RGB pixels, row-major, interleaved (HWC): `data[(y * width + x) * 3 + c]`. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/**
 * Checks an image's dimensions against its buffer (a programmer error when wrong).
 * @throws {RangeError} when the buffer length is not width * height * 3
 */
export function assertRgbImage(image: RgbImage): void {
  if (
    !Number.isInteger(image.width) || !Number.isInteger(image.height) || image.width < 1 ||
    image.height < 1 || image.data.length !== image.width * image.height * 3
  ) {
    throw new RangeError(
      `RgbImage ${image.width}x${image.height} needs ${image.width * image.height * 3} bytes, ` +
        `has ${image.data.length}`,
    );
  }
}
