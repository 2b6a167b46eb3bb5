/**
 * The callback each header reader calls with the declared size as soon as it knows it, so the
 * limits apply before anything else in the file is read (a cut or damaged file that declares
 * 100000×100000 pixels is refused as too large, whatever else is wrong with it).
 * @module
 */

/** Throws when `width`×`height` is over the limits; returns nothing otherwise. */
export type SizeCheck = (width: number, height: number) => void;
