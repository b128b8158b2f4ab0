// @ganzoo/biggan-deep
export {};
