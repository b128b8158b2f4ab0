// @ganzoo/galip
export {};
