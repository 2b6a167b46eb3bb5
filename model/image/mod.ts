/**
 * Images for the model code: decoding uploaded bytes (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC,
 * AVIF; any input, never a crash) into {@linkcode RgbImage}, and turning an image into a
 * network's input tensor.
 * @module
 */
export {
  DECODED_FORMAT_NAMES,
  type DecodedFormat,
  decodeImage,
  type DecodeImageOptions,
  IMAGE_BYTES_MAX,
  IMAGE_FRAMES_MAX,
  IMAGE_PIXELS_MAX,
  type ImageInfo,
  JPEG_SCANS_MAX,
  prepareDecoders,
  probeImage,
} from "./decode.ts";
export {
  IMAGE_ERROR_CODES,
  ImageError,
  type ImageErrorCode,
  type ImageErrorOptions,
} from "./errors.ts";
export { DECODABLE_FORMATS, type ImageFormat, sniffImageFormat } from "./format.ts";
export { assertRgbImage, type RgbImage } from "./rgb_image.ts";
export {
  NET_INPUT_SIZE_MAX,
  type NetInput,
  type NetInputOptions,
  toNetInput,
} from "./net_input.ts";
