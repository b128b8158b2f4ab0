// @ganzoo/encoders
export {};
