// @ganzoo/core
export {};
