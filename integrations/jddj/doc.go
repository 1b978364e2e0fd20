package jddj
