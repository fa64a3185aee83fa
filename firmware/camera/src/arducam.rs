//! ArduCAM Mini 2MP (Plus): an OV2640 sensor configured over I²C (SCCB, 7-bit
//! address 0x30) and an ArduChip frame FIFO read over SPI. The driver uses only
//! embedded-hal 1.0 traits (`SpiDevice`, `I2c`, `DelayNs`), so it runs on any HAL.
//!
//! Only compiled and tested against mocks here (no camera on the build
//! machines): the register sequences and the FIFO protocol are checked in the
//! tests below; the sensor table follows ArduCAM's QVGA RGB565 sequence,
//! abbreviated to the registers that select the format and size.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use embedded_hal::spi::{Operation, SpiDevice};

use crate::preprocess::{Downsampler, InputSpec};
use crate::FrameSource;

/// OV2640 I²C address.
pub const SENSOR_ADDR: u8 = 0x30;
/// ArduChip test register (write, read back).
pub const REG_TEST: u8 = 0x00;
/// ArduChip FIFO control.
pub const REG_FIFO: u8 = 0x04;
/// Clear the capture-done flag.
pub const FIFO_CLEAR: u8 = 0x01;
/// Start a capture.
pub const FIFO_START: u8 = 0x02;
/// ArduChip status.
pub const REG_STATUS: u8 = 0x41;
/// Capture-done bit of the status.
pub const STATUS_DONE: u8 = 0x08;
/// FIFO length, low / mid / high bytes.
pub const REG_FIFO_LEN: [u8; 3] = [0x42, 0x43, 0x44];
/// Burst FIFO read command.
pub const BURST_READ: u8 = 0x3C;

/// OV2640 register writes `(register, value)` for QVGA RGB565 (abbreviated).
pub const OV2640_QVGA_RGB565: &[(u8, u8)] = &[
    (0xFF, 0x01), // sensor bank
    (0x12, 0x80), // COM7: soft reset
    (0xFF, 0x00), // DSP bank
    (0x2C, 0xFF),
    (0x2E, 0xDF),
    (0xFF, 0x01),
    (0x3C, 0x32),
    (0x11, 0x00), // CLKRC: no prescaler
    (0x12, 0x40), // COM7: CIF/QVGA resolution
    (0xFF, 0x00), // DSP bank
    (0xE0, 0x04), // reset DVP
    (0xC0, 0x64), // HSIZE8 = 800/8
    (0xC1, 0x4B), // VSIZE8 = 600/8
    (0x5A, 0x50), // ZMOW = 320/4
    (0x5B, 0x3C), // ZMOH = 240/4
    (0x5C, 0x00), // ZMHH
    (0xDA, 0x08), // IMAGE_MODE: RGB565, big-endian
    (0xE0, 0x00), // release DVP reset
];

/// Camera errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamError<S, I> {
    /// SPI failed.
    Spi(S),
    /// I²C failed.
    I2c(I),
    /// The ArduChip test register did not read back: wiring or SPI mode.
    NoArduChip(u8),
    /// The sensor is not an OV2640 (its product ID).
    WrongSensor(u16),
    /// The capture did not finish in time.
    Timeout,
    /// The FIFO holds a different amount than a `w × h` RGB565 frame.
    FrameSize {
        /// Bytes in the FIFO.
        got: u32,
        /// Bytes expected.
        expected: u32,
    },
}

/// The camera.
#[derive(Debug)]
pub struct ArduCam<SPI, I2C, D> {
    spi: SPI,
    i2c: I2C,
    delay: D,
    /// Frame width the sensor is set to.
    pub width: u16,
    /// Frame height.
    pub height: u16,
}

type R<T, SPI, I2C> = Result<
    T,
    CamError<
        <SPI as embedded_hal::spi::ErrorType>::Error,
        <I2C as embedded_hal::i2c::ErrorType>::Error,
    >,
>;

impl<SPI: SpiDevice, I2C: I2c, D: DelayNs> ArduCam<SPI, I2C, D> {
    /// Give the buses back.
    pub fn release(self) -> (SPI, I2C, D) {
        (self.spi, self.i2c, self.delay)
    }

    /// Wrap the buses (QVGA frames).
    pub fn new(spi: SPI, i2c: I2C, delay: D) -> Self {
        ArduCam {
            spi,
            i2c,
            delay,
            width: 320,
            height: 240,
        }
    }

    /// Write an ArduChip register.
    pub fn write_reg(&mut self, reg: u8, value: u8) -> R<(), SPI, I2C> {
        self.spi.write(&[reg | 0x80, value]).map_err(CamError::Spi)
    }

    /// Read an ArduChip register.
    pub fn read_reg(&mut self, reg: u8) -> R<u8, SPI, I2C> {
        let mut v = [0u8];
        self.spi
            .transaction(&mut [Operation::Write(&[reg & 0x7F]), Operation::Read(&mut v)])
            .map_err(CamError::Spi)?;
        Ok(v[0])
    }

    fn sensor_write(&mut self, reg: u8, value: u8) -> R<(), SPI, I2C> {
        self.i2c
            .write(SENSOR_ADDR, &[reg, value])
            .map_err(CamError::I2c)
    }

    fn sensor_read(&mut self, reg: u8) -> R<u8, SPI, I2C> {
        let mut v = [0u8];
        self.i2c
            .write_read(SENSOR_ADDR, &[reg], &mut v)
            .map_err(CamError::I2c)?;
        Ok(v[0])
    }

    /// Check the SPI link and the sensor ID, then load the QVGA RGB565 table.
    pub fn init(&mut self) -> R<(), SPI, I2C> {
        self.write_reg(REG_TEST, 0x55)?;
        let t = self.read_reg(REG_TEST)?;
        if t != 0x55 {
            return Err(CamError::NoArduChip(t));
        }
        self.sensor_write(0xFF, 0x01)?;
        let id = u16::from_be_bytes([self.sensor_read(0x0A)?, self.sensor_read(0x0B)?]);
        if id >> 8 != 0x26 {
            return Err(CamError::WrongSensor(id));
        }
        for &(r, v) in OV2640_QVGA_RGB565 {
            self.sensor_write(r, v)?;
            if (r, v) == (0x12, 0x80) {
                self.delay.delay_ms(10); // reset settle time
            }
        }
        Ok(())
    }

    /// Capture one frame into the FIFO; returns its length in bytes.
    pub fn capture(&mut self) -> R<u32, SPI, I2C> {
        self.write_reg(REG_FIFO, FIFO_CLEAR)?;
        self.write_reg(REG_FIFO, FIFO_START)?;
        let mut done = false;
        for _ in 0..1000 {
            if self.read_reg(REG_STATUS)? & STATUS_DONE != 0 {
                done = true;
                break;
            }
            self.delay.delay_ms(1);
        }
        if !done {
            return Err(CamError::Timeout);
        }
        let b = [
            self.read_reg(REG_FIFO_LEN[0])?,
            self.read_reg(REG_FIFO_LEN[1])?,
            self.read_reg(REG_FIFO_LEN[2])? & 0x7F,
        ];
        Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    /// Burst-read the frame row by row (`row` holds `2·width` bytes).
    pub fn read_rows(&mut self, row: &mut [u8], mut sink: impl FnMut(&[u8])) -> R<(), SPI, I2C> {
        let n = 2 * self.width as usize;
        let row = &mut row[..n];
        for _ in 0..self.height {
            self.spi
                .transaction(&mut [Operation::Write(&[BURST_READ]), Operation::Read(row)])
                .map_err(CamError::Spi)?;
            sink(row);
        }
        Ok(())
    }
}

/// Scratch the frame source needs: one row and the box sums.
#[derive(Debug)]
pub struct FrameBuffers<'a> {
    /// `2 · width` bytes.
    pub row: &'a mut [u8],
    /// `2 · src²` counters.
    pub sums: &'a mut [u32],
}

/// The camera with its scratch buffers, as a [`FrameSource`].
#[derive(Debug)]
pub struct ArduCamSource<'a, SPI, I2C, D> {
    /// The camera.
    pub cam: ArduCam<SPI, I2C, D>,
    /// Scratch.
    pub bufs: FrameBuffers<'a>,
}

impl<SPI: SpiDevice, I2C: I2c, D: DelayNs> FrameSource for ArduCamSource<'_, SPI, I2C, D> {
    type Error = CamError<SPI::Error, I2C::Error>;

    fn next_frame(&mut self, spec: &InputSpec, input: &mut [i8]) -> Result<(), Self::Error> {
        let expected = 2 * self.cam.width as u32 * self.cam.height as u32;
        let got = self.cam.capture()?;
        // The ArduChip reports one extra dummy byte at the end of the FIFO.
        if got != expected && got != expected + 1 {
            return Err(CamError::FrameSize { got, expected });
        }
        let (w, h) = (self.cam.width as usize, self.cam.height as usize);
        let mut ds = Downsampler::new(w, h, spec.src as usize, self.bufs.sums)
            .ok_or(CamError::FrameSize { got, expected })?;
        self.cam.read_rows(self.bufs.row, |r| ds.row(r))?;
        ds.finish(spec, &spec.table(), input);
        Ok(())
    }
}
