// @ganzoo/gigagan
export {};
